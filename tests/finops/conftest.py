"""FinOps fixtures: an AWS connection on moto, Cost Explorer results to seed, and fixed cost data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import requests

from accounts.models import Organization
from connections.models import Connection
from finops.models import CostRecord
from finops.services import month_start, next_month
from tests.connections.conftest import create_connection

CANARY_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARYKEY1"


def aws_connection(org: Organization, *, environments: tuple[str, ...] = ("production", "staging")) -> Connection:
    return create_connection(
        org, "aws", name="aws-billing", auth_method="access_key", environments=environments,
        config={"account_id": "123456789012"}, secrets={"secret_access_key": CANARY_SECRET},
    )  # fmt: skip


def ce_period(day: dt.date, groups: list[tuple[str, str, str]]) -> dict[str, Any]:
    """One day of Cost Explorer ResultsByTime: groups of (service, environment tag value, amount)."""
    return {
        "TimePeriod": {"Start": day.isoformat(), "End": (day + dt.timedelta(days=1)).isoformat()},
        "Total": {},
        "Groups": [
            {
                "Keys": [service, f"environment${tag}"],
                "Metrics": {
                    "UnblendedCost": {"Amount": amount, "Unit": "USD"},
                    "AmortizedCost": {"Amount": amount, "Unit": "USD"},
                },
            }
            for service, tag, amount in groups
        ],
        "Estimated": False,
    }


def seed_ce(moto_url: str, *results: list[dict[str, Any]], account_id: str = "123456789012") -> None:
    """Queue Cost Explorer answers in moto (one per distinct request body, in order)."""
    body = {"account_id": account_id, "results": [{"ResultsByTime": periods} for periods in results]}
    response = requests.post(f"{moto_url}/moto-api/static/ce/cost-and-usage-results", json=body, timeout=5)
    assert response.status_code == 201, response.text


def add_costs(
    connection: Connection, day: dt.date, service: str, amount: str, *, environment=None, tag: str = "", project=""
):
    return CostRecord.objects.create(
        org=connection.org, connection=connection, environment=environment, provider=connection.provider,
        charge_period_start=day, charge_period_end=day + dt.timedelta(days=1),
        billing_period_start=month_start(day), billing_period_end=next_month(day),
        billed_cost=Decimal(amount), effective_cost=Decimal(amount), billing_currency="USD",
        provider_name="AWS", service_name=service, environment_tag=tag, project_name=project,
    )  # fmt: skip
