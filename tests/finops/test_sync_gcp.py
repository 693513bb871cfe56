"""Cost sync from the GCP billing export in BigQuery, against a local fake of Google's token endpoint
and the BigQuery REST API (jobs.query, getQueryResults paging)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from finops import services
from finops.choices import SyncStatusChoices
from finops.models import CostRecord
from tests.connections.conftest import create_connection, example
from tests.fakes import google as google_fakes

fake_google_server = google_fakes.fake_google_server
fake_google = google_fakes.fake_google

TABLE = "billing-admin.billing_data.gcp_billing_export_v1_0123AB"
DAY1, DAY2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


@pytest.fixture
def connection(org, members, fake_google):
    method, _config, secrets = example("gcp", "service_account_key")
    fake_google.add_service_account_key(secrets["service_account_key"])
    return create_connection(org, "gcp", name="gcp-proj", auth_method=method, environments=("production",),
                             config={"billing_export_table": TABLE})  # fmt: skip


def rows(project: str) -> list[dict]:
    return [
        {"day": "2026-11-01", "service": "Compute Engine", "environment": "production", "currency": "USD",
         "billed": "20.5", "effective": "18.25", "project": project},
        {"day": "2026-11-01", "service": "Cloud Storage", "environment": "", "currency": "USD",
         "billed": "1.10", "effective": "1.10", "project": project},
        {"day": "2026-11-02", "service": "BigQuery", "environment": "production", "currency": "USD",
         "billed": "4", "effective": "4", "project": project},
        {"day": "2026-11-01", "service": "Compute Engine", "environment": "", "currency": "USD",
         "billed": "999", "effective": "999", "project": "someone-elses-project"},
    ]  # fmt: skip


def test_gcp_sync_reads_the_billing_export_through_bigquery(org, members, fake_google, connection):
    project = connection.config["project_id"]
    fake_google.add_billing_rows(TABLE, rows(project))
    fake_google.bigquery_page_size = 2
    job = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY2, now=DAY2)
    assert job.status == SyncStatusChoices.SUCCEEDED, job.error
    stored = sorted(CostRecord.objects.values_list(
        "charge_period_start", "service_name", "billed_cost", "effective_cost", "environment__slug", "sub_account_id"
    ))  # fmt: skip
    assert stored == [
        (DAY1, "Cloud Storage", Decimal("1.10"), Decimal("1.10"), "production", project),  # the only environment
        (DAY1, "Compute Engine", Decimal("20.5"), Decimal("18.25"), "production", project),
        (DAY2, "BigQuery", Decimal("4"), Decimal("4"), "production", project),
    ]
    [query] = fake_google.bigquery_queries
    assert f"`{TABLE}`" in query["query"] and query["useLegacySql"] is False
    params = {p["name"]: p["parameterValue"]["value"] for p in query["queryParameters"]}
    assert params == {"tag_key": "environment", "project": project, "start": "2026-11-01", "end": "2026-11-03"}
    paged = [r for r in fake_google.requests if r.method == "GET" and "/queries/" in r.path]
    assert len(paged) == 1  # 3 rows, 2 per page
    again = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY2, now=DAY2)
    assert again.status == SyncStatusChoices.SUCCEEDED and CostRecord.objects.count() == 3


def test_gcp_missing_table_is_a_clear_failure_and_keeps_rows(org, members, fake_google, connection):
    fake_google.add_billing_rows(TABLE, rows(connection.config["project_id"]))
    services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY2, now=DAY2)
    fake_google.reset()
    fake_google.add_service_account_key(json.loads(example("gcp", "service_account_key")[2]["service_account_key"]))
    job = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY2, now=DAY2)
    assert job.status == SyncStatusChoices.FAILED
    assert "BigQuery answered 404" in job.error and TABLE in job.error
    assert CostRecord.objects.count() == 3


def test_gcp_without_a_table_says_what_to_set(org, members, fake_google, settings):
    settings.FINOPS_GCP_BILLING_TABLE = ""
    connection = create_connection(org, "gcp", name="gcp-none", auth_method="service_account_key")
    job = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY1, now=DAY2)
    assert job.status == SyncStatusChoices.FAILED and "billing_export_table" in job.error


def test_gcp_table_name_is_validated_on_the_connection(org, members):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        create_connection(org, "gcp", name="gcp-bad", auth_method="service_account_key",
                          config={"billing_export_table": "x`; DROP TABLE y; --"})  # fmt: skip
    assert "billing_export_table" in str(exc.value)
