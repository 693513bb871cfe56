"""Demo costs for `manage.py seed_demo`: a demo cloud connection and three months of daily costs.

The provider, its demo credentials and the services of its bill come from the first cost source that
declares a `DemoAccount` (today AWS, with AWS's documented example keys: it can never reach a real account),
so nothing here is provider-specific. Deterministic (a seeded generator), so re-running the seed writes the
same rows; the range is replaced through the sync's own write path (`services.replace_range`). A budget and
one cost spike show the alert path.
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
from connections.providers import REGISTRY, Provider
from connections.providers.costs import CostRow

from . import services
from .models import Budget


def demo_provider() -> Provider:
    """The first provider whose cost source declares a demo account."""
    return next(p for p in REGISTRY.values() if p.cost_source is not None and p.cost_source.demo is not None)


DEMO_PROVIDER = demo_provider()
DEMO = DEMO_PROVIDER.cost_source.demo
CONNECTION = f"{DEMO_PROVIDER.code}-demo"


def seed(org: Organization, admin: User, stdout: Any, *, today: dt.date | None = None) -> int:
    today = today or services.today()
    connection = Connection.objects.filter(org=org, name=CONNECTION).first()
    if connection is None:
        connection = connection_services.do_create_connection(
            org, actor=admin, name=CONNECTION, provider=DEMO_PROVIDER.code, auth_method=DEMO.auth_method,
            description="Demo account (documented example keys): costs are generated, not synced.",
            config=dict(DEMO.config), secrets=dict(DEMO.secrets), environments=["production", "staging"],
        )  # fmt: skip
    start = today.replace(day=1)
    for _ in range(2):  # the 1st of the month before last: two full months and this one so far
        start = (start - dt.timedelta(days=1)).replace(day=1)
    rng = random.Random(20261101)  # demo figures, not security
    rows = []
    day = start
    while day <= today:
        for index, (service, base, staging_share) in enumerate(DEMO.services):
            wobble = Decimal(str(round(rng.uniform(0.85, 1.15), 3)))
            growth = Decimal(1) + Decimal((day - start).days) / Decimal(400)
            amount = (base * wobble * growth).quantize(Decimal("0.01"))
            if day == today - dt.timedelta(days=2) and index == 0:
                amount *= 4  # one spike, so the anomaly check has something to show
            rows.append(CostRow(day=day, service_name=service, billed_cost=amount, effective_cost=amount,
                                billing_currency="USD", environment_tag="production",
                                tags={"environment": "production"}, sub_account_id=DEMO.sub_account_id,
                                region_id=DEMO.region_id))  # fmt: skip
            staging = (amount * staging_share).quantize(Decimal("0.01"))
            rows.append(CostRow(day=day, service_name=service, billed_cost=staging, effective_cost=staging,
                                billing_currency="USD", environment_tag="staging", tags={"environment": "staging"},
                                sub_account_id=DEMO.sub_account_id, region_id=DEMO.region_id))  # fmt: skip
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
