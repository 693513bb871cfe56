"""Runs end to end: real Terraform (or the stand-in, said loudly) applying against moto in server mode
with credentials from an access-key connection; the gate; cancel; one apply at a time; cleanup."""

from __future__ import annotations

import os
import threading
import time

import boto3
import pytest
from django.core.exceptions import ValidationError

from accounts.choices import AuditAction
from accounts.models import AuditEvent
from connections import services as connection_services
from connections.choices import RoleStatusChoices, UsageOutcomeChoices
from connections.models import ConnectionAuthorization, ConnectionUsage
from projects import services
from projects.choices import RunStatus
from projects.execution import execute_run
from projects.models import RunLogLine, TerraformRun
from tests.projects.conftest import CANARY, SECRET_KEY, make_role

pytestmark = pytest.mark.django_db


def log_of(run: TerraformRun) -> str:
    return "\n".join(RunLogLine.objects.filter(run=run).order_by("seq").values_list("text", flat=True))


def test_apply_creates_the_bucket_in_moto_with_masked_log_and_no_worker_env(
    project, members, tf_settings, monkeypatch, settings
):
    monkeypatch.setenv("TF_VAR_canary", CANARY)  # the worker's environment: must not reach the run
    monkeypatch.setenv("PLATFORM_OWN_SECRET", CANARY)
    run = services.do_start_run(project, actor=members["user"], kind="apply")
    run.refresh_from_db()
    log = log_of(run)
    assert run.status == RunStatus.SUCCEEDED, (run.reason, log)
    assert run.exit_code == 0 and run.duration_ms is not None
    assert (run.plan_add, run.plan_change, run.plan_destroy) == (1, 0, 0)
    assert CANARY not in log
    assert SECRET_KEY not in log
    assert 'canary = "absent"' in log
    if tf_settings == "real":
        s3 = boto3.client("s3", region_name="us-east-1")
        assert "platform-test-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert run.resources == ["aws_s3_bucket.state"]
        assert 'account = "123456789012"' in log
    else:
        assert "PLATFORM_OWN_SECRET" not in log and "key=" in log
    # temporary files removed
    assert not [p for p in os.listdir(settings.TERRAFORM_WORK_DIR) if p.startswith("tfrun-")]
    usage = ConnectionUsage.objects.filter(connection=project.connection, purpose="terraform-run").get()
    assert usage.outcome == UsageOutcomeChoices.SUCCESS and usage.resource == f"run-{run.pk}@storage"
    finished = AuditEvent.objects.filter(action=AuditAction.PROJECT_RUN_FINISHED).get()
    assert finished.details["status"] == "succeeded"
    # a second plan sees the saved (encrypted) state: nothing to add
    again = services.do_start_run(project, actor=members["user"], kind="plan")
    again.refresh_from_db()
    if tf_settings == "real":
        assert (again.status, again.plan_add) == (RunStatus.SUCCEEDED, 0), log_of(again)
        assert SECRET_KEY.encode() not in project.__class__.objects.get(pk=project.pk).local_state_envelope.encode()


def test_missing_terraform_fails_with_a_clear_message(project, members, tf_settings, settings):
    settings.TERRAFORM_BIN = "/nonexistent/terraform"
    run = services.do_start_run(project, actor=members["user"], kind="plan")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "Terraform is not installed" in run.reason and "TERRAFORM_BIN" in run.reason


def test_invalid_role_blocks_the_run(org, members, aws, tf_settings):
    weak = make_role(aws, members, "tf-weak", "sts:GetCallerIdentity")
    project = services.do_create_project(
        org, actor=members["admin"], name="weak", environment="production", connection="aws-prod", role=weak.pk,
        variables={"bucket": "b-weak"}, archive=__import__("tests.projects.conftest", fromlist=["x"]).tar_gz(
            {"main.tf": __import__("tests.projects.conftest", fromlist=["x"]).MAIN_TF}),
    )  # fmt: skip
    run = services.do_start_run(project, actor=members["user"], kind="apply")
    run.refresh_from_db()
    assert run.status == RunStatus.BLOCKED
    assert "is invalid" in run.reason and "tf-weak" in run.reason
    assert not ConnectionUsage.objects.filter(purpose="terraform-run").exists()


def test_expired_role_blocks_the_run(project, members, tf_settings):
    iam = boto3.client("iam", region_name="us-east-1")
    iam.delete_role_policy(RoleName="tf-runner", PolicyName="run")
    iam.delete_role(RoleName="tf-runner")
    run = services.do_start_run(project, actor=members["user"], kind="plan")
    run.refresh_from_db()
    assert run.status == RunStatus.BLOCKED
    assert RoleStatusChoices.EXPIRED in run.reason
    assert log_of(run).startswith("Blocked:")


def test_unauthorized_environment_gives_the_documented_error(project, members, tf_settings):
    ConnectionAuthorization.objects.filter(connection=project.connection).delete()
    run = services.do_start_run(project, actor=members["user"], kind="plan")
    run.refresh_from_db()
    assert run.status == RunStatus.BLOCKED
    assert run.reason == "Connection 'aws-prod' is not authorized for environment 'production'"


def test_inactive_connection_blocks(project, members, tf_settings):
    connection_services.do_set_active(project.connection, actor=members["admin"], active=False)
    run = services.do_start_run(project, actor=members["user"], kind="plan")
    run.refresh_from_db()
    assert run.status == RunStatus.BLOCKED
    assert "No connection available for provider" in run.reason


def test_one_apply_at_a_time(project, members, tf_settings, monkeypatch):
    monkeypatch.setattr("projects.services.send_on_commit", lambda *a, **k: None)
    first = services.do_start_run(project, actor=members["user"], kind="apply")
    with pytest.raises(ValidationError) as caught:
        services.do_start_run(project, actor=members["user"], kind="destroy")
    assert f"run #{first.pk}" in str(caught.value)
    services.do_start_run(project, actor=members["user"], kind="plan")  # plans may run beside it
    services.do_cancel_run(first, actor=members["user"])
    first.refresh_from_db()
    assert first.status == RunStatus.CANCELED
    services.do_start_run(project, actor=members["user"], kind="apply")


def test_viewer_cannot_start_a_run(project, members, tf_settings):
    from django.core.exceptions import PermissionDenied  # late import: only this test

    with pytest.raises(PermissionDenied):
        services.do_start_run(project, actor=members["viewer"], kind="plan")


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_process(org, members, aws, moto, settings, stand_in, tmp_path, monkeypatch):
    settings.TERRAFORM_BIN = stand_in
    settings.TERRAFORM_EXTRA_ENV = {"STANDIN_SLEEP": "30", "AWS_ENDPOINT_URL": moto}
    settings.TERRAFORM_CANCEL_GRACE = 1.0
    settings.TERRAFORM_WORK_DIR = str(tmp_path)
    settings.PLATFORM_AWS_ACCOUNT_ID = "123456789012"
    monkeypatch.setattr("projects.services.send_on_commit", lambda *a, **k: None)
    role = make_role(aws, members)
    from tests.projects.conftest import MAIN_TF, tar_gz  # late import: the transactional test builds its own project

    project = services.do_create_project(
        org, actor=members["admin"], name="slow", environment="production", connection="aws-prod", role=role.pk,
        variables={"bucket": "b"}, archive=tar_gz({"main.tf": MAIN_TF}),
    )  # fmt: skip
    run = services.do_start_run(project, actor=members["user"], kind="plan")
    worker = threading.Thread(target=execute_run, args=(run.pk,))
    started = time.monotonic()
    worker.start()
    for _ in range(200):
        time.sleep(0.1)
        if RunLogLine.objects.filter(run=run, text__startswith="Plan:").exists():
            break
    services.do_cancel_run(TerraformRun.objects.get(pk=run.pk), actor=members["user"])
    worker.join(timeout=20)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED
    assert time.monotonic() - started < 20
    assert ConnectionUsage.objects.filter(purpose="terraform-run").get().outcome == UsageOutcomeChoices.FAILURE


def test_apply_with_an_s3_state_backend_writes_the_state_to_moto(org, project, members, tf_settings, settings, moto):
    if tf_settings != "real":
        pytest.skip("needs the real Terraform (the stand-in writes no state)")
    from tests.connections.conftest import create_connection  # late import: only this test makes a backend

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="tf-state")
    boto3.client("dynamodb", region_name="us-east-1").create_table(  # the example backend locks with DynamoDB
        TableName="terraform-locks", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
    )  # fmt: skip
    backend = create_connection(org, "s3_backend", name="state", config={
        "cloud_connection": "aws-prod", "bucket": "tf-state", "region": "us-east-1", "key_prefix": "envs"})  # fmt: skip
    settings.TERRAFORM_BACKEND_EXTRA_CONFIG = {"use_path_style": "true"}
    services.do_update_project(project, actor=members["provisioner"], backend_connection=backend.name)
    run = services.do_start_run(project, actor=members["user"], kind="apply")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, (run.reason, log_of(run))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="tf-state").get("Contents", [])]
    assert keys == ["envs/production/storage/terraform.tfstate"]
    assert project.__class__.objects.get(pk=project.pk).local_state_envelope == ""
