"""Project attribution: Cost Explorer rows carrying the project tag (set by Terraform runs) are stored with
the project's name and its environment, without double counting, and the API and dashboard group by it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import requests

from finops import services
from finops.choices import SyncStatusChoices
from finops.models import CostRecord
from tests.connections.conftest import create_connection
from tests.fakes import moto_server as moto_fakes
from tests.finops.conftest import add_costs, aws_connection, ce_period, seed_ce

moto_server = moto_fakes.moto_server
moto = moto_fakes.moto

DAY1, DAY2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
ON = dt.date(2026, 11, 20)


def two_tag_period(day: dt.date, groups: list[tuple[str, str, str]]) -> dict[str, Any]:
    """ResultsByTime of a grouping by the project tag and the environment tag: (project, env, amount)."""
    period = ce_period(day, [("x", "", amount) for _p, _e, amount in groups])
    for group, (project, env, _amount) in zip(period["Groups"], groups, strict=True):
        group["Keys"] = [f"project${project}", f"environment${env}"]
    return period


def project_period(day: dt.date, groups: list[tuple[str, str, str]]) -> dict[str, Any]:
    """ResultsByTime of a grouping by service and the project tag: (service, project, amount)."""
    period = ce_period(day, groups)
    for group, (service, project, _amount) in zip(period["Groups"], groups, strict=True):
        group["Keys"] = [service, f"project${project}"]
    return period


@pytest.fixture(autouse=True)
def _reset(moto):
    requests.post(f"{moto}/moto-api/reset", timeout=5)


def test_sync_stores_project_tagged_costs_once_with_project_and_environment(org, members, moto):
    connection = aws_connection(org)
    # moto answers distinct request bodies in order: untagged-by-project, by project, project x environment
    seed_ce(
        moto,
        [ce_period(DAY1, [("AWS Lambda", "production", "2.00"), ("Amazon Simple Storage Service", "", "0.50")])],
        [project_period(DAY1, [("Amazon Simple Storage Service", "storage", "7.25"), ("AWS Lambda", "api", "1.00")])],
        [two_tag_period(DAY1, [("storage", "production", "7.00"), ("storage", "staging", "0.25"),
                               ("api", "staging", "1.00")])],
    )  # fmt: skip
    job = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY1, now=DAY2)
    job.refresh_from_db()
    assert job.status == SyncStatusChoices.SUCCEEDED, job.error
    rows = sorted(
        CostRecord.objects.filter(connection=connection).values_list(
            "service_name", "project_name", "environment_tag", "environment__slug", "billed_cost", "tags"
        )
    )
    assert rows == [
        ("AWS Lambda", "", "production", "production", Decimal("2.00"), {"environment": "production"}),
        ("AWS Lambda", "api", "staging", "staging", Decimal("1.00"), {"project": "api", "environment": "staging"}),
        ("Amazon Simple Storage Service", "", "", None, Decimal("0.50"), {}),
        # the project's environment: the one with the larger cost that day
        ("Amazon Simple Storage Service", "storage", "production", "production", Decimal("7.25"),
         {"project": "storage", "environment": "production"}),
    ]  # fmt: skip
    # the bill is partitioned, not counted twice
    assert sum(r[4] for r in rows) == Decimal("10.75")


def test_project_attribution_off_reads_the_bill_in_one_query(org, members, moto, settings):
    settings.FINOPS_PROJECT_TAG = ""
    connection = aws_connection(org)
    seed_ce(moto, [ce_period(DAY1, [("AWS Lambda", "production", "2.00")])],
            [project_period(DAY1, [("AWS Lambda", "api", "99")])])  # fmt: skip
    services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY1, now=DAY2)
    assert list(CostRecord.objects.values_list("project_name", "billed_cost")) == [("", Decimal("2.00"))]


def seed_projects(org):
    aws = create_connection(org, "aws", name=f"aws-{org.slug}", environments=("production",))
    prod = org.environments.get(slug="production")
    for day in range(1, 11):
        add_costs(aws, dt.date(2026, 11, day), "Amazon S3", "2.50", environment=prod, project="storage")
        add_costs(aws, dt.date(2026, 11, day), "AWS Lambda", "1.00", environment=prod, project="api")
        add_costs(aws, dt.date(2026, 11, day), "Amazon EC2", "4.00", environment=prod)
    return aws


@pytest.fixture
def _fixed_clock(monkeypatch):
    monkeypatch.setattr(services, "today", lambda: ON)


@pytest.mark.usefixtures("_fixed_clock")
def test_api_groups_costs_by_project_and_filters_one(org, members, api_as, other_org):
    seed_projects(org)
    seed_projects(other_org)
    api = api_as("viewer")
    body = api.get(f"/api/v1/orgs/{org.slug}/costs/?group_by=project&start=2026-11-01&end=2026-11-30").json()
    assert [(r["key"], Decimal(r["billed_cost"])) for r in body["results"]] == [
        ("", Decimal("40.00")), ("storage", Decimal("25.00")), ("api", Decimal("10.00")),
    ]  # fmt: skip
    body = api.get(f"/api/v1/orgs/{org.slug}/costs/?group_by=service&project=storage").json()
    assert [(r["key"], Decimal(r["billed_cost"])) for r in body["results"]] == [("Amazon S3", Decimal("25.00"))]
    records = api.get(f"/api/v1/orgs/{org.slug}/costs/records/?project=api").json()
    assert len(records["results"]) == 10 and {r["project_name"] for r in records["results"]} == {"api"}


@pytest.mark.usefixtures("_fixed_clock")
def test_dashboard_shows_cost_by_project(org, members, client_as):
    seed_projects(org)
    page = client_as("viewer").get(f"/o/{org.slug}/costs/").content.decode()
    assert "By project (this month)" in page and "Cost by project" in page
    section = page.split('id="by-project"', 1)[1].split("</section>", 1)[0]
    assert "storage" in section and "25.00" in section
    assert "api" in section and "10.00" in section
    assert "(no project)" in section and "40.00" in section
    assert 'style="' not in page and "<script>" not in page
