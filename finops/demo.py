"""Demo costs for `manage.py seed_demo`: a demo AWS connection and three months of daily costs.

Deterministic (a seeded generator), so re-running the seed writes the same rows; the range is replaced
through the sync's own write path (`services.replace_range`). The connection's keys are AWS's documented
example keys: it can never reach a real account. A budget and one cost spike show the alert path.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.models import Organization, User
from connections import services as connection_services
from connections.models import Connection
from connections.providers.costs import CostRow

from . import services
from .models import Budget

CONNECTION = "aws-demo"
SERVICES = [  # (service, production daily base, staging share)
    ("Amazon Elastic Compute Cloud - Compute", Decimal("42.00"), Decimal("0.35")),
    ("Amazon Relational Database Service", Decimal("18.50"), Decimal("0.25")),
    ("Amazon Simple Storage Service", Decimal("6.20"), Decimal("0.40")),
    ("Amazon CloudFront", Decimal("3.10"), Decimal("0.10")),
    ("AWS Lambda", Decimal("1.40"), Decimal("0.60")),
]


def seed(org: Organization, admin: User, stdout: Any, *, today: dt.date | None = None) -> int:
    today = today or services.today()
    connection = Connection.objects.filter(org=org, name=CONNECTION).first()
    if connection is None:
        connection = connection_services.do_create_connection(
            org, actor=admin, name=CONNECTION, provider="aws", auth_method="access_key",
            description="Demo account (AWS's documented example keys): costs are generated, not synced.",
            config={"account_id": "123456789012", "region": "eu-west-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE"},
            secrets={"secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
            environments=["production", "staging"],
        )  # fmt: skip
    start = today.replace(day=1)
    for _ in range(2):  # the 1st of the month before last: two full months and this one so far
        start = (start - dt.timedelta(days=1)).replace(day=1)
    rng = random.Random(20261101)  # demo figures, not security
    rows = []
    day = start
    while day <= today:
        for index, (service, base, staging_share) in enumerate(SERVICES):
            wobble = Decimal(str(round(rng.uniform(0.85, 1.15), 3)))
            growth = Decimal(1) + Decimal((day - start).days) / Decimal(400)
            amount = (base * wobble * growth).quantize(Decimal("0.01"))
            if day == today - dt.timedelta(days=2) and index == 0:
                amount *= 4  # one spike, so the anomaly check has something to show
            rows.append(CostRow(day=day, service_name=service, billed_cost=amount, effective_cost=amount,
                                billing_currency="USD", environment_tag="production",
                                tags={"environment": "production"}, sub_account_id="123456789012",
                                region_id="eu-west-1"))  # fmt: skip
            staging = (amount * staging_share).quantize(Decimal("0.01"))
            rows.append(CostRow(day=day, service_name=service, billed_cost=staging, effective_cost=staging,
                                billing_currency="USD", environment_tag="staging", tags={"environment": "staging"},
                                sub_account_id="123456789012", region_id="eu-west-1"))  # fmt: skip
        day += dt.timedelta(days=1)
    records = services.build_records(connection, rows)
    with transaction.atomic():
        written = services.replace_range(connection, start, today + dt.timedelta(days=1), records)
    if not Budget.objects.filter(org=org).exists():
        services.do_create_budget(org, actor=admin, name="Production", scope="environment",
                                  environment="production", amount="3000", thresholds=[50, 80, 100])  # fmt: skip
        services.do_create_budget(org, actor=admin, name="Whole organization", amount="5000")
    services.evaluate_budgets(org, on=today)
    services.evaluate_anomalies(connection, [today - dt.timedelta(days=i) for i in range(7)])
    stdout.write(f"FinOps: {written} demo cost records on '{CONNECTION}' ({start} to {today}).")
    return written


def seed_demo(org: Organization, admin: User) -> str:
    """`manage.py seed_demo`'s hook (`FinopsConfig.demo_seeders`): returns what it did, for the command to print."""
    out = io.StringIO()
    seed(org, admin, out)
    return out.getvalue().strip()
