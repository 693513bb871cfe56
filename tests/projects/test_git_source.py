"""Git source: a clone from a local smart-HTTP server (`git http-backend`) through a GitHub connection;
the token travels in a header set through GIT_CONFIG_* and is in no process's arguments meanwhile."""

from __future__ import annotations

import pytest

from projects import services
from projects.choices import RunStatus
from projects.models import RunLogLine
from tests.connections.conftest import create_connection
from tests.fakes.git_http import GitServer, make_repo
from tests.projects.conftest import MAIN_TF

pytestmark = pytest.mark.django_db
TOKEN = "gho_" + "A1b2C3d4E5f6" * 3


def test_git_project_runs_from_a_local_git_server(org, members, aws, role, tf_settings, tmp_path):
    github = create_connection(org, "github", name="github-acme", auth_method="oauth")
    make_repo(tmp_path / "repos", "infra", {"stacks/storage/main.tf": MAIN_TF, "README.md": "x"})
    with GitServer(tmp_path / "repos", "x-access-token", TOKEN) as server:
        project = services.do_create_project(
            org, actor=members["admin"], name="from-git", environment="production", connection="aws-prod",
            role=role.pk, variables={"bucket": "git-bucket"}, source_kind="git", git_connection=github.name,
            git_url=f"{server.url}/infra.git", git_ref="main", git_subdirectory="stacks/storage",
        )  # fmt: skip
        run = services.do_start_run(project, actor=members["user"], kind="plan")
    run.refresh_from_db()
    log = "\n".join(RunLogLine.objects.filter(run=run).values_list("text", flat=True))
    assert run.status == RunStatus.SUCCEEDED, (run.reason, log)
    assert server.requests and all(authorized for _, authorized in server.requests)
    assert server.argv_leaks == []
    assert TOKEN not in log and TOKEN not in server.url
    project.refresh_from_db()
    assert "s3:CreateBucket" in project.detected_permissions  # detected from the clone


def test_wrong_token_fails_the_run_with_gits_message(org, members, aws, role, tf_settings, tmp_path):
    github = create_connection(org, "github", name="github-acme", auth_method="oauth")
    make_repo(tmp_path / "repos", "infra", {"main.tf": MAIN_TF})
    with GitServer(tmp_path / "repos", "x-access-token", "another-token-entirely") as server:
        project = services.do_create_project(
            org, actor=members["admin"], name="from-git", environment="production", connection="aws-prod",
            role=role.pk, source_kind="git", git_connection=github.name, git_url=f"{server.url}/infra.git",
        )  # fmt: skip
        run = services.do_start_run(project, actor=members["user"], kind="plan")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "The Git clone failed" in run.reason
    assert TOKEN not in run.reason


def test_gitlab_connection_clones_with_oauth2_basic_auth(org, members, aws, role, tf_settings, tmp_path):
    gitlab = create_connection(org, "gitlab", name="gitlab-acme", auth_method="oauth")
    token = "0123456789abcdef" * 4
    make_repo(tmp_path / "repos", "infra", {"main.tf": MAIN_TF})
    with GitServer(tmp_path / "repos", "oauth2", token) as server:
        project = services.do_create_project(
            org, actor=members["admin"], name="from-gitlab", environment="production", connection="aws-prod",
            role=role.pk, variables={"bucket": "gl-bucket"}, source_kind="git", git_connection=gitlab.name,
            git_url=f"{server.url}/infra.git",
        )  # fmt: skip
        run = services.do_start_run(project, actor=members["user"], kind="plan")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert server.argv_leaks == [] and all(ok for _, ok in server.requests)
