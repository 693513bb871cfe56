"""FinOps API and pages: the role table, grouping and ranges, exports (FOCUS validated), budgets CRUD,
constant query counts, the deletion preview's real counts, and no secret anywhere."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from accounts.models import AuditEvent
from accounts.policy import Action
from connections import services as connection_services
from connections.models import ConnectionUsage
from finops import services
from finops.models import Budget, CostRecord, SyncJob
from tests.connections.conftest import create_connection
from tests.finops.conftest import add_costs
from tests.permissions import Case, PermissionMatrix

ON = dt.date(2026, 11, 20)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch):
    monkeypatch.setattr(services, "today", lambda: ON)


def seed(org):
    """Two connections, two months of costs; production is the AWS connection's only environment."""
    aws = create_connection(org, "aws", name=f"aws-{org.slug}", environments=("production",))
    prod = org.environments.get(slug="production")
    for day in range(1, 21):
        add_costs(aws, dt.date(2026, 11, day), "Amazon EC2", "10.50", environment=prod)
        add_costs(aws, dt.date(2026, 11, day), "Amazon S3", "1.25", environment=prod)
    for day in range(1, 31):
        add_costs(aws, dt.date(2026, 10, day), "Amazon EC2", "9", environment=prod)
    return aws


class TestFinopsPermissions(PermissionMatrix):
    """Reads: every member (VIEW_COSTS); budgets: admins; syncs: admins. Another organization's objects: 404."""

    refused_before_lookup = frozenset({"budget"})
    cases = [
        Case.api("get", "/api/v1/orgs/{org}/costs/", Action.VIEW_COSTS),
        Case.api("get", "/api/v1/orgs/{org}/costs/records/", Action.VIEW_COSTS),
        Case.api("get", "/api/v1/orgs/{org}/costs/export/", Action.VIEW_COSTS),
        Case.api("get", "/api/v1/orgs/{org}/costs/focus/", Action.VIEW_COSTS),
        Case.api("get", "/api/v1/orgs/{org}/budgets/", Action.VIEW_COSTS),
        Case.api("get", "/api/v1/orgs/{org}/budgets/{budget}/", Action.VIEW_COSTS),
        Case.api("post", "/api/v1/orgs/{org}/budgets/", Action.MANAGE_BUDGETS,
                 body={"name": "b-{role}", "amount": "100.00"}),
        Case.api("patch", "/api/v1/orgs/{org}/budgets/{budget}/", Action.MANAGE_BUDGETS, body={"amount": "5.00"}),
        Case.api("delete", "/api/v1/orgs/{org}/budgets/{budget}/", Action.MANAGE_BUDGETS),
        Case.api("get", "/api/v1/orgs/{org}/cost-syncs/", Action.VIEW_COSTS),
        Case.api("post", "/api/v1/orgs/{org}/cost-syncs/", Action.SYNC_COSTS, ok=202, body={"connection": "gh-conn"}),
        Case.api("get", "/api/v1/orgs/{org}/cost-anomalies/", Action.VIEW_COSTS),
        Case.page("get", "/o/{org}/costs/", Action.VIEW_COSTS),
        Case.page("get", "/o/{org}/costs/budgets/new/", Action.MANAGE_BUDGETS),
        Case.page("post", "/o/{org}/costs/budgets/new/", Action.MANAGE_BUDGETS, ok=302,
                  body={"name": "p-{role}", "scope": "organization", "amount": "10", "currency": "USD",
                        "thresholds": "50,100"}),
        Case.page("post", "/o/{org}/costs/budgets/{budget}/delete/", Action.MANAGE_BUDGETS, ok=302),
        Case.page("post", "/o/{org}/costs/sync/", Action.SYNC_COSTS, ok=302, body={"connection": "gh-conn"}),
    ]  # fmt: skip

    def objects(self, org):
        seed(org)
        create_connection(org, "github", name="gh-conn")
        budget = services.do_create_budget(
            org, actor=org.memberships.get(role="admin").user, name="Monthly", amount="500"
        )
        return {"budget": budget.pk}

    def snapshot(self, org):
        return (
            sorted(Budget.objects.filter(org=org).values_list("name", "amount")),
            SyncJob.objects.filter(org=org).count(),
        )


def test_costs_grouped_by_dimension_and_range(org, members, api_as):
    seed(org)
    api = api_as("viewer")
    body = api.get(f"/api/v1/orgs/{org.slug}/costs/?group_by=service").json()
    assert [(r["key"], Decimal(r["billed_cost"])) for r in body["results"]] == [
        ("Amazon EC2", Decimal("210.00")), ("Amazon S3", Decimal("25.00")),
    ]  # fmt: skip
    body = api.get(f"/api/v1/orgs/{org.slug}/costs/?group_by=month&start=2026-10-01&end=2026-11-30").json()
    assert [(r["key"], Decimal(r["billed_cost"])) for r in body["results"]] == [
        ("2026-10-01", Decimal("270.00")), ("2026-11-01", Decimal("235.00")),
    ]  # fmt: skip
    body = api.get(f"/api/v1/orgs/{org.slug}/costs/?group_by=environment&start=2026-11-01&end=2026-11-02").json()
    assert [(r["key"], Decimal(r["billed_cost"])) for r in body["results"]] == [("production", Decimal("23.50"))]
    body = api.get(f"/api/v1/orgs/{org.slug}/costs/?group_by=day&start=2026-11-02&end=2026-11-01")
    assert body.status_code == 400 and "start" in body.json()["error"]["fields"]
    body = api.get(f"/api/v1/orgs/{org.slug}/costs/?group_by=colour")
    assert body.status_code == 400 and "group_by" in body.json()["error"]["fields"]
    assert api.get(f"/api/v1/orgs/{org.slug}/costs/?start=yesterday").status_code == 400


def test_csv_export_matches_the_api(org, members, api_as):
    seed(org)
    response = api_as("viewer").get(f"/api/v1/orgs/{org.slug}/costs/export/?start=2026-11-01&end=2026-11-01")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted((r["service"], r["billed_cost"], r["environment"]) for r in rows) == [
        ("Amazon EC2", "10.5000000000", "production"), ("Amazon S3", "1.2500000000", "production"),
    ]  # fmt: skip


def _focus_validator() -> str | None:
    candidates = [os.environ.get("FOCUS_VALIDATOR", ""), str(ROOT / ".venv-focus/bin/focus-validator"),
                  shutil.which("focus-validator") or ""]  # fmt: skip
    return next((c for c in candidates if c and Path(c).exists()), None)


def test_focus_export_passes_the_official_validator(org, members, api_as, tmp_path):
    seed(org)
    CostRecord.objects.filter(service_name="Amazon S3").update(tags={"environment": "production", "team": "a,b"})
    response = api_as("viewer").get(f"/api/v1/orgs/{org.slug}/costs/focus/?start=2026-10-01&end=2026-11-30")
    assert response.status_code == 200
    data = tmp_path / "focus.csv"
    data.write_bytes(b"".join(response.streaming_content))
    header = data.read_text().splitlines()[0].split(",")
    for column in ("BilledCost", "EffectiveCost", "ListCost", "BillingCurrency", "ChargePeriodStart",
                   "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd", "ChargeCategory", "ProviderName",
                   "ServiceName", "ServiceCategory", "SubAccountId", "RegionId", "ResourceId", "Tags"):  # fmt: skip
        assert column in header
    validator = _focus_validator()
    if validator is None:
        if os.environ.get("CI"):
            pytest.fail("focus-validator is not installed (make install puts it in .venv-focus)")
        pytest.skip("focus-validator is not installed (make install puts it in .venv-focus)")
    report = tmp_path / "report.xml"
    # focus-validator reads its ISO currency list from a path relative to the working directory
    # (focus_validator/utils/currency_codes.csv): run it from its site-packages, fully offline.
    python = str(Path(validator).with_name("python"))
    site = subprocess.run([python, "-c", "import focus_validator, os; print(os.path.dirname(os.path.dirname("
                           "focus_validator.__file__)))"], capture_output=True, text=True, check=True).stdout.strip()
    result = subprocess.run(
        [validator, "--data-file", str(data), "--validate-version", "1.0", "--output-type", "unittest",
         "--output-destination", str(report)],
        capture_output=True, text=True, timeout=300, cwd=site,
    )  # fmt: skip
    xml = report.read_text()
    assert 'failures="0"' in xml, (result.stdout[-3000:], xml[:3000])
    assert "Validation failed" not in result.stdout


def test_budgets_api_crud_with_actual_and_forecast(org, members, api_as):
    seed(org)
    admin = api_as("admin")
    created = admin.post(f"/api/v1/orgs/{org.slug}/budgets/",
                         {"name": "Prod", "scope": "environment", "environment": "production", "amount": "300",
                          "thresholds": [80, 100]})  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    # 20 days x 11.75 = 235.00 so far; 235 / 20 * 30 = 352.50 forecast
    assert (body["actual"], body["forecast"], body["environment"]) == ("235.00", "352.50", "production")
    bad = admin.post(f"/api/v1/orgs/{org.slug}/budgets/", {"name": "X", "scope": "environment", "amount": "1",
                                                           "environment": "nope"})  # fmt: skip
    assert bad.status_code == 400 and "environment" in bad.json()["error"]["fields"]
    patched = admin.patch(f"/api/v1/orgs/{org.slug}/budgets/{body['id']}/", {"amount": "1000"})
    assert patched.status_code == 200 and patched.json()["amount"] == "1000.00"
    assert admin.delete(f"/api/v1/orgs/{org.slug}/budgets/{body['id']}/").status_code == 204
    actions = AuditEvent.objects.filter(org=org, action__startswith="finops.budget").values_list("action", flat=True)
    assert sorted(actions) == ["finops.budget_created", "finops.budget_deleted", "finops.budget_updated"]


def test_dashboard_shows_the_same_numbers_as_tables(org, members, client_as):
    seed(org)
    services.do_create_budget(org, actor=members["admin"], name="All", amount="400")
    page = client_as("viewer").get(f"/o/{org.slug}/costs/").content.decode()
    assert "235.00" in page  # month to date
    assert "<svg" in page and "<script" not in page and 'style="' not in page
    assert "Amazon EC2" in page and "210.00" in page
    assert "Add a budget" not in page  # viewers read budgets, admins write them
    admin_page = client_as("admin").get(f"/o/{org.slug}/costs/").content.decode()
    assert "Add a budget" in admin_page and "Sync costs now" in admin_page


def test_dashboard_and_lists_query_counts_do_not_grow(org, members, client_as, api_as, django_assert_max_num_queries):
    aws = seed(org)
    # one budget of each scope: each scope is one grouped query, whatever the number of budgets
    services.do_create_budget(org, actor=members["admin"], name="All", amount="400")
    services.do_create_budget(org, actor=members["admin"], name="Env", amount="400", scope="environment",
                              environment="production")  # fmt: skip
    services.do_create_budget(org, actor=members["admin"], name="Conn", amount="400", scope="connection",
                              connection=aws.name)  # fmt: skip
    client, api = client_as("viewer"), api_as("viewer")

    def count(callable_):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert callable_().status_code == 200
        return len(ctx.captured_queries)

    page = count(lambda: client.get(f"/o/{org.slug}/costs/"))
    budgets = count(lambda: api.get(f"/api/v1/orgs/{org.slug}/budgets/"))
    records = count(lambda: api.get(f"/api/v1/orgs/{org.slug}/costs/records/"))
    other = create_connection(org, "aws", name="aws-more", environments=("staging",))
    for day in range(1, 21):
        add_costs(other, dt.date(2026, 11, day), f"Service {day}", "3")
    for i in range(5):
        services.do_create_budget(org, actor=members["admin"], name=f"B{i}", amount="10", scope="connection",
                                  connection=aws.name if i % 2 else other.name)  # fmt: skip
    with django_assert_max_num_queries(page):
        client.get(f"/o/{org.slug}/costs/")
    with django_assert_max_num_queries(budgets):
        api.get(f"/api/v1/orgs/{org.slug}/budgets/")
    with django_assert_max_num_queries(records):
        api.get(f"/api/v1/orgs/{org.slug}/costs/records/")


def test_deletion_preview_counts_cost_records_and_sync_jobs(org, members):
    aws = seed(org)
    SyncJob.objects.create(org=org, connection=aws, range_start=ON, range_end=ON, status="succeeded")
    preview = connection_services.deletion_preview(aws, actor=members["viewer"]).as_dict()
    assert preview["will_delete"]["cost_records"]["count"] == 70
    assert preview["will_delete"]["sync_jobs"]["count"] == 1
    connection_services.do_delete_connection(aws, actor=members["admin"])
    assert CostRecord.objects.count() == 0 and SyncJob.objects.count() == 0


def test_sync_request_api_masks_errors_and_never_shows_a_secret(org, members, api_as, client_as, monkeypatch):
    from tests.finops.conftest import CANARY_SECRET, aws_connection

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    from connections.providers.aws import clients

    clients.clear()
    connection = aws_connection(org)
    response = api_as("admin").post(f"/api/v1/orgs/{org.slug}/cost-syncs/",
                                    {"connection": connection.name, "start": "2026-11-01", "end": "2026-11-02"})
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "failed" and response.json()["error"]
    texts = [response.content.decode(),
             api_as("viewer").get(f"/api/v1/orgs/{org.slug}/cost-syncs/").content.decode(),
             str(list(AuditEvent.objects.values_list("details", flat=True))),
             str(list(SyncJob.objects.values_list("error", flat=True))),
             str(list(ConnectionUsage.objects.values_list("error", flat=True))),
             client_as("admin").get(f"/o/{org.slug}/costs/").content.decode()]  # fmt: skip
    for text in texts:
        assert CANARY_SECRET not in text
    bad = api_as("admin").post(f"/api/v1/orgs/{org.slug}/cost-syncs/", {"connection": connection.name,
                                                                        "start": "2026-11-05", "end": "2026-11-01"})
    assert bad.status_code == 400 and "start" in bad.json()["error"]["fields"]
    assert api_as("admin").post(f"/api/v1/orgs/{org.slug}/cost-syncs/", {"connection": "nope"}).status_code == 404


@pytest.mark.parametrize("model", ["costrecord", "syncjob", "budget", "budgetalert", "costanomaly"])
def test_admin_changelists_render_read_only(admin_client, org, members, model):
    seed(org)
    response = admin_client.get(f"/admin/finops/{model}/")
    assert response.status_code == 200
    assert admin_client.get(f"/admin/finops/{model}/add/").status_code == 403


def test_empty_dashboard_and_api(org, members, client_as, api_as):
    page = client_as("viewer").get(f"/o/{org.slug}/costs/")
    assert page.status_code == 200 and "No cost data yet" in page.content.decode()
    body = api_as("viewer").get(f"/api/v1/orgs/{org.slug}/costs/?group_by=day").json()
    assert body["count"] == 0 and body["results"] == []
    assert api_as("viewer").get(f"/api/v1/orgs/{org.slug}/costs/?page=9").status_code == 404
