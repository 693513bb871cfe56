"""Around runs: timeout, backend configuration, a deleted role or environment, validation picking up the
project's detected permissions, the admin never showing the archive or state."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.services import do_delete_environment
from connections.role_validation import do_delete_role, do_validate_role
from projects import services
from projects.choices import RunStatus
from projects.execution import backend_files, execute_run
from projects.models import TerraformProject, TerraformRun
from tests.connections.conftest import create_connection
from tests.projects.conftest import MAIN_TF, tar_gz

pytestmark = pytest.mark.django_db


def test_timeout_stops_the_run(project, members, settings, tf_settings, stand_in):
    settings.TERRAFORM_BIN = stand_in
    settings.TERRAFORM_PLUGIN_MIRROR = ""
    settings.TERRAFORM_EXTRA_ENV = {"STANDIN_SLEEP": "30"}
    settings.TERRAFORM_RUN_TIMEOUT = 2
    settings.TERRAFORM_CANCEL_GRACE = 1.0
    run = services.do_start_run(project, actor=members["user"], kind="plan")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.reason == "Timed out after 2 seconds."
    assert run.duration_ms < 15000


def test_state_backend_writes_backend_block_and_config(org, members, project, tmp_path):
    backend = create_connection(org, "s3_backend", name="state", config={"cloud_connection": "aws-prod"})
    services.do_update_project(project, actor=members["provisioner"], backend_connection=backend.name)
    project.refresh_from_db()
    args = backend_files(project, str(tmp_path))
    assert args == ["-backend-config=platform.backend.hcl"]
    assert 'backend "s3" {}' in (tmp_path / "platform_backend_override.tf").read_text()
    config = (tmp_path / "platform.backend.hcl").read_text()
    assert "production/storage/terraform.tfstate" in config and 'bucket = "' in config


def test_backend_must_be_a_state_backend(org, members, project):
    with pytest.raises(ValidationError) as caught:
        services.do_update_project(project, actor=members["provisioner"], backend_connection="aws-prod")
    assert "not a state backend" in caught.value.message_dict["backend_connection"][0]


def test_deleted_role_leaves_project_blocked(project, members, tf_settings):
    do_delete_role(project.role, actor=members["provisioner"])
    project.refresh_from_db()
    assert project.role is None
    run = services.do_start_run(project, actor=members["user"], kind="plan")
    run.refresh_from_db()
    assert run.status == RunStatus.BLOCKED and "needs one" in run.reason


def test_environment_with_projects_cannot_be_deleted(project, members):
    with pytest.raises(ValidationError, match="still used by"):
        do_delete_environment(project.environment, actor=members["admin"])
    assert TerraformProject.objects.filter(pk=project.pk).exists()


def test_validation_counts_the_projects_detected_permissions(project, members, moto):
    iam = boto3.client("iam", region_name="us-east-1")
    iam.put_role_policy(RoleName="tf-runner", PolicyName="run", PolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:*","Resource":"*"}]}'))  # fmt: skip
    role = do_validate_role(project.role, actor=members["provisioner"])
    assert "s3:CreateBucket" in role.detected_permissions and "s3:CreateBucket" in role.missing_permissions
    assert role.status == "invalid"


def test_admin_never_shows_archive_or_state(project, client, django_user_model):
    admin = django_user_model.objects.create_superuser(email="root@x.test", password="pw-123456789")
    client.force_login(admin)
    html = client.get(f"/admin/projects/terraformproject/{project.pk}/change/").content.decode()
    assert "local_state_envelope" not in html and 'name="archive"' not in html


def test_drift_runs_with_a_warning(project, members, settings, tf_settings, stand_in, moto):
    settings.TERRAFORM_BIN = stand_in
    settings.TERRAFORM_PLUGIN_MIRROR = ""
    first = do_validate_role(project.role, actor=members["provisioner"])
    assert first.status == "valid", first.validation_error
    iam = boto3.client("iam", region_name="us-east-1")
    iam.put_role_policy(RoleName="tf-runner", PolicyName="extra", PolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}'))  # fmt: skip
    run = services.do_start_run(project, actor=members["user"], kind="plan")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert any("drifted" in warning for warning in run.warnings)


def test_a_run_left_running_by_a_dead_worker_is_reaped(project, members, monkeypatch):
    monkeypatch.setattr("projects.services.send_on_commit", lambda *a, **k: None)
    run = services.do_start_run(project, actor=members["user"], kind="apply")
    TerraformRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now() - timedelta(days=1)
    )
    assert execute_run(run.pk) is None
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "worker" in run.reason
    services.do_start_run(project, actor=members["user"], kind="apply")  # the apply lock is free again


def test_list_queries_do_not_grow_with_projects(
    org, members, project, api_as, client_as, django_assert_max_num_queries
):
    for i in range(5):
        services.do_create_project(
            org, actor=members["admin"], name=f"more-{i}", environment="production", connection="aws-prod",
            role=project.role_id, variables={"bucket": "b"}, archive=tar_gz({"main.tf": MAIN_TF}),
        )  # fmt: skip
    api, page = api_as("viewer"), client_as("viewer")
    with django_assert_max_num_queries(8):
        assert len(api.get(f"/api/v1/orgs/{org.slug}/projects/").json()["results"]) == 6
    with django_assert_max_num_queries(12):
        assert page.get(f"/o/{org.slug}/projects/").status_code == 200


def test_automatic_connection_is_selected_at_run_time(org, members, aws, role, settings, tf_settings, stand_in):
    settings.TERRAFORM_BIN = stand_in
    settings.TERRAFORM_PLUGIN_MIRROR = ""
    project = services.do_create_project(
        org, actor=members["provisioner"], name="auto", environment="production", provider="aws",
        role=role.pk, variables={"bucket": "b"}, archive=tar_gz({"main.tf": MAIN_TF}),
    )  # fmt: skip
    assert project.connection is None
    run = services.do_start_run(project, actor=members["user"], kind="plan")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert run.connection == aws
    staging = services.do_create_project(
        org, actor=members["provisioner"], name="auto-staging", environment="staging", provider="aws",
        role=role.pk, archive=tar_gz({"main.tf": MAIN_TF}),
    )  # fmt: skip
    blocked = services.do_start_run(staging, actor=members["user"], kind="plan")
    blocked.refresh_from_db()
    assert blocked.status == RunStatus.BLOCKED
    assert blocked.reason == "Connection 'aws-prod' is not authorized for environment 'staging'"
