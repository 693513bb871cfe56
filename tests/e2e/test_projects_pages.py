"""The projects pages in a real browser: a user opens a project, sees detected permissions, and the run
page's log tail picks up new lines through the static polling script (no inline script), then shows
the finished status."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from projects import services
from projects.choices import RunStatus
from projects.models import RunLogLine, TerraformRun
from tests.connections.conftest import create_connection
from tests.fakes.moto_server import MOTO_ACCOUNT_ID, moto, moto_server  # noqa: F401
from tests.projects.conftest import MAIN_TF, make_role, tar_gz

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_run_log_tail_polls_and_finishes(page, live_server, login, org, members, moto, settings, monkeypatch):
    settings.PLATFORM_AWS_ACCOUNT_ID = MOTO_ACCOUNT_ID
    monkeypatch.setattr("projects.services.send_on_commit", lambda *a, **k: None)  # queued, not executed
    connection = create_connection(
        org, "aws", name="aws-prod", auth_method="access_key", environments=("production",),
        config={"account_id": MOTO_ACCOUNT_ID},
    )  # fmt: skip
    role = make_role(connection, members)
    project = services.do_create_project(
        org, actor=members["admin"], name="storage", environment="production", connection="aws-prod",
        role=role.pk, variables={"bucket": "b"}, archive=tar_gz({"main.tf": MAIN_TF}),
    )  # fmt: skip
    login(page, "user@acme.test")
    page.goto(f"{live_server.url}/o/acme/projects/storage/")
    expect(page.get_by_role("heading", name="Detected permissions")).to_be_visible()
    expect(page.get_by_text("s3:CreateBucket").first).to_be_attached()
    page.get_by_role("button", name="Plan").click()
    run = TerraformRun.objects.get(project=project)
    expect(page).to_have_url(f"{live_server.url}/o/acme/projects/storage/runs/{run.pk}/")
    RunLogLine.objects.bulk_create([RunLogLine(run=run, seq=1, text="Terraform has been successfully initialized!")])
    expect(page.locator("#run-log")).to_contain_text("successfully initialized", timeout=10_000)
    TerraformRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, log_lines=1)
    expect(page.locator("#run-status")).to_contain_text("Succeeded", timeout=15_000)
