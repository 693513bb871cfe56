"""Project runs with the short-lived auth methods: assume_role (External ID, served through the loopback
credentials endpoint) and web identity (the platform's OIDC token in a refreshed file), end to end through
`do_start_run` (the Celery task, eager) with the real Terraform applying `aws_caller_identity` and an
`aws_s3_bucket` against moto in server mode. (Access keys: test_runs.py.)

What each run must show: the bucket exists in moto afterwards, the run worked as the role (the caller
identity names the assumed role and the run's session), the usage row, no obtained value (session
token, token-file contents, endpoint authorization) in the stored log, and nothing of the worker's
environment in the run's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from connections.choices import UsageOutcomeChoices
from connections.models import ConnectionUsage
from connections.providers.aws.identity import oidc_provider_path, web_identity_trust_policy
from connections.role_validation import do_add_role
from identity import conf as oidc_conf
from identity.keys import subject_for
from projects import execution, services
from projects.choices import RunStatus
from projects.models import RunLogLine, TerraformRun
from tests.connections.conftest import allow, create_connection, create_iam_role, trust_policy
from tests.projects.conftest import CANARY, MAIN_TF, MOTO_ACCOUNT_ID, tar_gz

pytestmark = pytest.mark.django_db

# Who the run worked as: the assumed role and the run's session name.
TF = (
    MAIN_TF
    + """
output "arn" {
  value = data.aws_caller_identity.me.arn
}
"""
)


def log_of(run: TerraformRun) -> str:
    return "\n".join(RunLogLine.objects.filter(run=run).order_by("seq").values_list("text", flat=True))


@pytest.fixture
def real_terraform(tf_settings, settings, moto) -> None:
    if tf_settings != "real":
        print("\n!!! TERRAFORM IS NOT INSTALLED HERE: the assume_role / web identity project runs are SKIPPED !!!\n")
        pytest.skip("needs the real Terraform and the provider mirror (see TESTING.md)")
    # STS for the web identity exchange the provider makes itself; everything else through AWS_ENDPOINT_URL.
    settings.TERRAFORM_EXTRA_ENV = {"AWS_ENDPOINT_URL": moto, "AWS_ENDPOINT_URL_STS": moto}


@pytest.fixture
def seen(monkeypatch) -> dict[str, Any]:
    """What the run got: the child's environment and every value the credentials marked sensitive; also
    the token files' contents while they existed."""
    seen: dict[str, Any] = {"envs": [], "sensitive": [], "files": []}
    real_env = execution.run_environment
    real_step = execution.run_step

    def recording_env(home: str, credentials_env: dict[str, str]) -> dict[str, str]:
        env = real_env(home, credentials_env)
        seen["envs"].append(dict(env))
        return env

    def recording_step(ctx: Any, step: str, args: list[str], **kwargs: Any) -> str:
        for name in ("AWS_WEB_IDENTITY_TOKEN_FILE",):
            if name in ctx.env and Path(ctx.env[name]).exists():
                seen["files"].append(Path(ctx.env[name]).read_text())
        seen["sensitive"] = list(ctx.log.sensitive)
        return real_step(ctx, step, args, **kwargs)

    monkeypatch.setattr(execution, "run_environment", recording_env)
    monkeypatch.setattr(execution, "run_step", recording_step)
    return seen


def _worker_canaries(monkeypatch) -> None:
    monkeypatch.setenv("TF_VAR_canary", CANARY)
    monkeypatch.setenv("PLATFORM_OWN_SECRET", CANARY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY)  # the platform's own key: AssumeRole is called with it


def _check_run(run: TerraformRun, connection: Any, seen: dict[str, Any], *, bucket: str, role_name: str) -> str:
    run.refresh_from_db()
    log = log_of(run)
    assert run.status == RunStatus.SUCCEEDED, (run.reason, log)
    assert (run.plan_add, run.plan_change, run.plan_destroy) == (1, 0, 0)
    s3 = boto3.client("s3", region_name="us-east-1")
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert run.resources == ["aws_s3_bucket.state"]
    assert f'account = "{MOTO_ACCOUNT_ID}"' in log
    assert f":assumed-role/{role_name}/run-{run.pk}@" in log
    # The plan's JSON lines are logged as Terraform's own human messages.
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in log and '"@level"' not in log
    # The worker's environment did not reach the run.
    assert 'canary = "absent"' in log and CANARY not in log
    assert seen["envs"]
    for env in seen["envs"]:
        assert CANARY not in json.dumps(env)
        assert "PLATFORM_OWN_SECRET" not in env and "TF_VAR_canary" not in env
        assert "AWS_SECRET_ACCESS_KEY" not in env and "AWS_ACCESS_KEY_ID" not in env
    # Every obtained value is masked in the stored log.
    obtained = [v for v in [*seen["sensitive"], *seen["files"]] if len(v) >= 8]
    assert obtained
    for value in obtained:
        assert value not in log
    usage = ConnectionUsage.objects.filter(connection=connection, purpose="terraform-run").get()
    assert usage.outcome == UsageOutcomeChoices.SUCCESS and usage.resource == f"run-{run.pk}@{run.project.name}"
    work_dir = os.path.dirname(os.path.dirname(seen["envs"][0]["HOME"]))
    assert not [p for p in os.listdir(work_dir) if p.startswith("tfrun-")]  # temporary files removed
    return log


def test_assume_role_with_external_id_applies_through_a_project_run(
    org, members, real_terraform, seen, monkeypatch, settings
):
    connection = create_connection(
        org, "aws", name="aws-assumed", auth_method="assume_role", environments=("production",),
        config={"account_id": MOTO_ACCOUNT_ID, "region": "us-east-1"},
    )  # fmt: skip
    iam = boto3.client("iam", region_name="us-east-1")
    arn = create_iam_role(
        iam, "tf-assumed", trust_policy(connection.external_id), inline={"run": allow("s3:*", "sts:*")}
    )
    role = do_add_role(connection, actor=members["provisioner"], role_arn=arn, session_duration=1800)
    project = services.do_create_project(
        org, actor=members["provisioner"], name="assumed", environment="production", connection="aws-assumed",
        role=role.pk, variables={"bucket": "assumed-role-bucket"}, archive=tar_gz({"main.tf": TF}),
    )  # fmt: skip
    _worker_canaries(monkeypatch)
    run = services.do_start_run(project, actor=members["user"], kind="apply")
    _check_run(run, connection, seen, bucket="assumed-role-bucket", role_name="tf-assumed")
    env = seen["envs"][-1]  # the last: the one with the credentials (init may start before, without)
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    assert env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] in seen["sensitive"]
    # No state backend: init started while the gate re-validated the role, without any credentials.
    assert len(seen["envs"]) == 2
    assert not {k for k in seen["envs"][0] if k.startswith(("AWS_CONTAINER", "AWS_ROLE", "AWS_WEB"))}


def test_web_identity_applies_through_a_project_run(org, members, real_terraform, seen, monkeypatch, settings):
    iam = boto3.client("iam", region_name="us-east-1")
    name = "aws-federated"
    issuer = oidc_conf.issuer_url()
    iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["0" * 40])
    trust = web_identity_trust_policy(MOTO_ACCOUNT_ID, issuer, subject_for(org.slug, name), "sts.amazonaws.com")
    assert oidc_provider_path(issuer) in json.dumps(trust)
    arn = create_iam_role(iam, "tf-federated", trust, inline={"run": allow("s3:*", "sts:*")})
    connection = create_connection(
        org, "aws", name=name, auth_method="web_identity", environments=("production",),
        config={"account_id": MOTO_ACCOUNT_ID, "region": "us-east-1", "role_arn": arn},
    )  # fmt: skip
    project = services.do_create_project(
        org, actor=members["provisioner"], name="federated", environment="production", connection=name,
        variables={"bucket": "web-identity-bucket"}, archive=tar_gz({"main.tf": TF}),
    )  # fmt: skip
    _worker_canaries(monkeypatch)
    run = services.do_start_run(project, actor=members["user"], kind="apply")
    _check_run(run, connection, seen, bucket="web-identity-bucket", role_name="tf-federated")
    env = seen["envs"][-1]  # the last: the one with the credentials (init may start before, without)
    assert env["AWS_ROLE_ARN"] == arn and env["AWS_ROLE_SESSION_NAME"] == f"run-{run.pk}@federated"
    assert seen["files"] and all(token.count(".") == 2 for token in seen["files"])


def test_a_blocked_run_stops_the_early_init_and_shows_only_why(project, members, tf_settings, settings, monkeypatch):
    """Init may start while the gate decides (no state backend), but a blocked run logs only the reason,
    obtains no credentials and leaves no files."""
    started: list[Any] = []
    real_start = execution.start_step

    def recording_start(*args: Any, **kwargs: Any) -> Any:
        step = real_start(*args, **kwargs)
        started.append(step)
        return step

    monkeypatch.setattr(execution, "start_step", recording_start)
    iam = boto3.client("iam", region_name="us-east-1")
    iam.delete_role_policy(RoleName="tf-runner", PolicyName="run")
    iam.delete_role(RoleName="tf-runner")
    run = services.do_start_run(project, actor=members["user"], kind="apply")
    run.refresh_from_db()
    assert run.status == RunStatus.BLOCKED
    assert [line.split(":")[0] for line in log_of(run).splitlines()] == ["Blocked"]
    assert [step.name for step in started] == ["init"] and started[0].process.poll() is not None
    assert not ConnectionUsage.objects.filter(purpose="terraform-run").exists()
    assert not [p for p in os.listdir(settings.TERRAFORM_WORK_DIR) if p.startswith("tfrun-")]


def test_plan_json_lines_are_logged_as_their_messages(project, members):
    run = TerraformRun.objects.create(org=project.org, project=project, kind="plan", environment="production")
    ctx = execution.Context(run, execution.RunLog(run), {}, "/nonexistent", 0.0, "terraform")
    lines = [
        {"@message": "Terraform 1.11.4", "type": "version"},
        {"@message": "Error: bad thing", "type": "diagnostic", "diagnostic": {"detail": "more words"}},
        {"@message": "Plan: 2 to add, 1 to change, 3 to destroy.", "type": "change_summary",
         "changes": {"add": 2, "change": 1, "import": 0, "remove": 3, "operation": "plan"}},
    ]  # fmt: skip
    for line in lines:
        execution._json_line(ctx, (json.dumps(line) + "\n").encode())
    execution._json_line(ctx, b"not json at all\n")
    ctx.log.flush()
    assert log_of(run).splitlines() == [
        "Terraform 1.11.4", "Error: bad thing", "more words", "Plan: 2 to add, 1 to change, 3 to destroy.",
        "not json at all",
    ]  # fmt: skip
    assert execution.change_summary(ctx.outputs["change_summary"]) == (2, 1, 3)
