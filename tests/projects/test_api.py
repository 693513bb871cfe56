"""Projects API: CRUD, runs (start, history with filters, log tail, cancel), usage; the role table
(viewer reads, user starts runs, provisioner manages projects), other organizations are 404."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from accounts.models import Organization
from accounts.policy import Action
from projects import services
from projects.choices import RunStatus
from projects.models import RunLogLine, TerraformProject, TerraformRun
from tests.connections.conftest import create_connection
from tests.fakes.moto_server import MOTO_ACCOUNT_ID
from tests.permissions import Case, PermissionMatrix
from tests.projects.conftest import MAIN_TF, SECRET_KEY, make_role, tar_gz

pytestmark = pytest.mark.django_db

ARCHIVE = base64.b64encode(tar_gz({"main.tf": MAIN_TF})).decode()


@pytest.fixture(autouse=True)
def _queue_only(monkeypatch, settings, moto):
    """Runs are queued, not executed, in these tests (the run tests execute them)."""
    settings.PLATFORM_AWS_ACCOUNT_ID = MOTO_ACCOUNT_ID
    monkeypatch.setattr("projects.services.send_on_commit", lambda *a, **k: None)


def setup_project(org: Organization) -> TerraformProject:
    admin = org.memberships.filter(role="admin").first().user
    connection = create_connection(
        org, "aws", name=f"aws-{org.slug}", auth_method="access_key", environments=("production",),
        config={"account_id": MOTO_ACCOUNT_ID},
    )  # fmt: skip
    role = make_role(connection, {"provisioner": admin}, f"tf-{org.slug}")
    return services.do_create_project(
        org, actor=admin, name=f"net-{org.slug}", environment="production", connection=connection.name,
        role=role.pk, variables={"bucket": "b"}, archive=tar_gz({"main.tf": MAIN_TF}),
    )  # fmt: skip


class TestProjectRoleTable(PermissionMatrix):
    cases = [
        Case.api("get", "/api/v1/orgs/{org}/projects/", Action.VIEW),
        Case.api("get", "/api/v1/orgs/{org}/projects/{project}/", Action.VIEW),
        Case.api("post", "/api/v1/orgs/{org}/projects/", Action.MANAGE_PROJECTS, body={
            "name": "new-{role}", "environment": "production", "connection": "", "provider": "github",
            "archive_base64": ARCHIVE}, ok=400),
        Case.api("patch", "/api/v1/orgs/{org}/projects/{project}/", Action.MANAGE_PROJECTS,
                 body={"description": "changed"}),
        Case.api("delete", "/api/v1/orgs/{org}/projects/{project}/", Action.MANAGE_PROJECTS),
        Case.api("get", "/api/v1/orgs/{org}/projects/{project}/runs/", Action.VIEW),
        Case.api("post", "/api/v1/orgs/{org}/projects/{project}/runs/", Action.START_RUN, body={"kind": "plan"}),
        Case.api("get", "/api/v1/orgs/{org}/runs/", Action.VIEW),
        Case.api("get", "/api/v1/orgs/{org}/runs/{run}/", Action.VIEW),
        Case.api("get", "/api/v1/orgs/{org}/runs/{run}/log/", Action.VIEW),
        Case.api("post", "/api/v1/orgs/{org}/runs/{run}/cancel/", Action.START_RUN, ok=200),
        Case.api("get", "/api/v1/orgs/{org}/usage/", Action.VIEW),
        Case.page("get", "/o/{org}/projects/", Action.VIEW),
        Case.page("get", "/o/{org}/projects/{project}/", Action.VIEW),
        Case.page("get", "/o/{org}/projects/{busy}/runs/{run}/", Action.VIEW),
        Case.page("get", "/o/{org}/projects/new/", Action.MANAGE_PROJECTS),
        Case.page("get", "/o/{org}/projects/{project}/edit/", Action.MANAGE_PROJECTS),
        Case.page("post", "/o/{org}/projects/{project}/runs/", Action.START_RUN, body={"kind": "plan"}),
        Case.page("get", "/o/{org}/usage/", Action.VIEW),
    ]  # fmt: skip

    # Writes are refused on the organization-level role before the object is looked up (same for any name).
    refused_before_lookup = frozenset({"project", "busy", "run"})

    def objects(self, org: Organization) -> dict[str, Any]:
        project = setup_project(org)
        admin = org.memberships.filter(role="admin").first().user
        busy = services.do_create_project(
            org, actor=admin, name=f"busy-{org.slug}", environment="production", connection=project.connection.name,
            role=project.role_id, variables={"bucket": "b"}, archive=tar_gz({"main.tf": MAIN_TF}),
        )  # fmt: skip
        run = services.do_start_run(busy, actor=admin, kind="plan")
        return {"project": project.name, "busy": busy.name, "run": run.pk}

    def snapshot(self, org: Organization) -> list[tuple]:
        return sorted(TerraformProject.objects.filter(org=org).values_list("name", "description")) + sorted(
            TerraformRun.objects.filter(org=org).values_list("pk", "status", "cancel_requested")
        )


def test_create_via_api_and_field_errors(org, members, api_as):
    project = setup_project(org)
    client = api_as("provisioner")
    bad = client.post(f"/api/v1/orgs/{org.slug}/projects/", {
        "name": "x", "environment": "nope", "connection": "aws-acme",
        "archive_base64": base64.b64encode(tar_gz({"../evil.tf": "x"})).decode()}, format="json")  # fmt: skip
    assert bad.status_code == 400
    fields = bad.json()["error"]["fields"]
    assert {"name", "environment", "archive"} <= set(fields)
    ok = client.post(f"/api/v1/orgs/{org.slug}/projects/", {
        "name": "second", "environment": "production", "connection": "aws-acme", "role": project.role_id,
        "variables": {"bucket": "c"}, "archive_base64": ARCHIVE}, format="json")  # fmt: skip
    assert ok.status_code == 201, ok.json()
    body = ok.json()
    assert "s3:CreateBucket" in body["detected_permissions"] and body["unmapped_types"] == []
    assert "archive" not in body and "local_state_envelope" not in body


def test_runs_history_filters_log_tail_and_masking(org, members, api_as, django_assert_max_num_queries):
    project = setup_project(org)
    for kind in ("plan", "plan", "apply"):
        services.do_start_run(project, actor=members["user"], kind=kind)
    TerraformRun.objects.filter(kind="plan").update(status=RunStatus.FAILED, reason="boom 1")
    run = TerraformRun.objects.get(kind="apply")
    RunLogLine.objects.bulk_create([RunLogLine(run=run, seq=i, text=f"line {i}") for i in range(1, 6)])
    client = api_as("viewer")
    with django_assert_max_num_queries(8):
        listed = client.get(f"/api/v1/orgs/{org.slug}/runs/?status=failed&project={project.name}").json()
    assert len(listed["results"]) == 2 and listed["next"] is None
    tail = client.get(f"/api/v1/orgs/{org.slug}/runs/{run.pk}/log/?after=3").json()
    assert [line["seq"] for line in tail["lines"]] == [4, 5] and tail["next_after"] == 5
    again = api_as("user").post(f"/api/v1/orgs/{org.slug}/projects/{project.name}/runs/", {"kind": "destroy"})
    assert again.status_code == 400 and "one at a time" in str(again.json())
    usage = client.get(f"/api/v1/orgs/{org.slug}/usage/?connection=aws-acme").json()
    assert usage["total_runs"] == 3 and usage["failed_runs"] == 2
    assert usage["top_errors"][0] == {"pattern": "boom <n>", "count": 2, "example": "boom 1"}
    assert SECRET_KEY not in str(usage)


def test_connection_card_count_and_deletion_blocked(org, members, client_as):
    project = setup_project(org)
    page = client_as("viewer").get(f"/o/{org.slug}/connections/")
    assert "1 linked project" in page.content.decode()
    preview = client_as("admin").get(f"/o/{org.slug}/connections/aws-acme/delete/").content.decode()
    assert project.name in preview and "Blocks deletion" in preview
    from connections.services import do_delete_connection  # late import: only this test deletes

    with pytest.raises(Exception, match="Terraform projects"):
        do_delete_connection(project.connection, actor=members["admin"])


def test_run_page_refreshes_without_js_and_has_no_inline_script(org, members, client_as):
    project = setup_project(org)
    run = services.do_start_run(project, actor=members["user"], kind="plan")
    html = client_as("viewer").get(f"/o/{org.slug}/projects/{project.name}/runs/{run.pk}/").content.decode()
    assert '<meta http-equiv="refresh" content="3">' in html
    assert "js/run-log.js" in html
    assert "<script>" not in html and "style=" not in html


def test_usage_page_renders_svg_charts(org, members, client_as):
    setup_project(org)
    html = client_as("viewer").get(f"/o/{org.slug}/usage/").content.decode()
    assert "<svg" in html and "Runs per day as a table" in html and "style=" not in html


def test_card_count_counts_each_linked_project_once_in_the_page_query(org, members, django_assert_num_queries):
    """A project linked to a connection through several fields (cloud connection, state backend, Git source)
    is one linked project; the counts are a column of the page's own query, not a query of their own."""
    from connections.models import Connection
    from connections.services import card_counts, with_card_counts

    project = setup_project(org)
    aws = project.connection
    other = create_connection(org, "github", name="gh-other")
    unused = create_connection(org, "github", name="gh-unused")
    TerraformProject.objects.filter(pk=project.pk).update(backend_connection=aws, git_connection=other)
    with django_assert_num_queries(1):
        rows = list(with_card_counts(Connection.objects.filter(pk__in=[aws.pk, other.pk, unused.pk])))
    card_counts(rows)
    counts = {row.pk: row.linked_counts for row in rows}
    assert counts == {
        aws.pk: [("linked project", 1)],
        other.pk: [("linked project", 1)],
        unused.pk: [("linked projects", 0)],
    }
