"""Cost sync from Azure Cost Management, against a local TLS fake of Entra ID and the query API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from finops import services
from finops.choices import SyncStatusChoices
from finops.models import CostRecord
from tests.connections.conftest import create_connection
from tests.connections.provider_examples import SUBSCRIPTION_ID, TENANT_ID
from tests.fakes.azure_costs import FakeAzureCosts

CLIENT_ID = "0b8a5a9e-1c2d-4e3f-8a9b-0c1d2e3f4a5b"
SECRET = "abC8Q~CANARYazureSecretValue.1234567890ab"
DAY1, DAY2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


@pytest.fixture
def azure(settings, monkeypatch, tmp_path: Path) -> Iterator[FakeAzureCosts]:
    for name in ("PROVIDER_ENDPOINT_AZURE_AUTHORITY", "PROVIDER_ENDPOINT_AZURE_MANAGEMENT", "AZURE_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    with FakeAzureCosts(tenant_id=TENANT_ID, subscription_id=SUBSCRIPTION_ID, cost_page_size=2) as fake:
        ca_file = tmp_path / "azure-ca.pem"
        ca_file.write_text(fake.ca_pem)
        settings.AZURE_CA_BUNDLE = str(ca_file)
        settings.PROVIDER_ENDPOINTS = {"azure_authority": fake.url, "azure_management": fake.url}
        settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        fake.add_client(CLIENT_ID, secret=SECRET)
        yield fake


@pytest.fixture
def connection(org, members):
    return create_connection(org, "azure", name="azure-sub", auth_method="client_secret",
                             environments=("production", "staging"),
                             config={"client_id": CLIENT_ID}, secrets={"client_secret": SECRET})  # fmt: skip


def test_azure_sync_pages_through_the_query_api(org, members, azure, connection):
    azure.costs = [
        [12.5, 20261101, "Virtual Machines", "environment", "production", "USD"],
        [0.75, 20261101, "Storage", "", "", "USD"],
        [3.1, 20261102, "Virtual Machines", "environment", "staging", "USD"],
    ]
    job = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY2, now=DAY2)
    assert job.status == SyncStatusChoices.SUCCEEDED, job.error
    assert job.rows_written == 3
    rows = sorted(CostRecord.objects.values_list("charge_period_start", "service_name", "billed_cost",
                                                 "environment__slug", "provider_name", "service_category"))  # fmt: skip
    assert rows == [
        (DAY1, "Storage", Decimal("0.75"), None, "Microsoft", "Storage"),
        (DAY1, "Virtual Machines", Decimal("12.5"), "production", "Microsoft", "Compute"),
        (DAY2, "Virtual Machines", Decimal("3.1"), "staging", "Microsoft", "Compute"),
    ]
    query = azure.queries[0]
    assert query["dataset"]["granularity"] == "Daily"
    assert query["timePeriod"] == {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T23:59:59Z"}
    assert {"type": "TagKey", "name": "environment"} in query["dataset"]["grouping"]
    assert len(azure.queries) == 2  # two pages
    # the same range again: the same rows
    again = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY2, now=DAY2)
    assert again.status == SyncStatusChoices.SUCCEEDED
    assert sorted(CostRecord.objects.values_list("charge_period_start", "service_name", "billed_cost")) == [
        (r[0], r[1], r[2]) for r in rows
    ]


def test_azure_throttling_fails_the_job_and_keeps_the_rows(org, members, azure, connection):
    azure.costs = [[5, 20261101, "Storage", "", "", "EUR"]]
    services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY1, now=DAY2)
    azure.fail_with = 429
    job = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY1, now=DAY2)
    assert job.status == SyncStatusChoices.FAILED
    assert "429" in job.error and SECRET not in job.error
    assert list(CostRecord.objects.values_list("billed_cost", "billing_currency")) == [(Decimal("5"), "EUR")]


def test_azure_wrong_secret_is_a_clear_error(org, members, azure, connection):
    azure.add_client(CLIENT_ID, secret="another-secret-entirely-0000000000")
    job = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY1, now=DAY2)
    assert job.status == SyncStatusChoices.FAILED
    assert "Entra ID" in job.error and SECRET not in job.error
