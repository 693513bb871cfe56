"""Benchmark: FinOps ingestion and dashboard aggregation at scale (PostgreSQL only).

1. Ingestion: N cost rows into `finops_costrecord` through the sync's own write path
   (`services.build_records` + `services.replace_range` in one transaction, as a sync job does), against
   a raw `COPY ... FROM STDIN` of the same rows into the same table, in the same run. Target: the write
   path reaches at least 30% of COPY's rows per second.
2. Dashboard: `reports.dashboard()` (every grouped figure of the page) at N rows, against hand-written
   SQL GROUP BY queries computing the same figures. Target: at most 1.5x.
3. The dashboard's query count at 1,000 rows and at N rows: the same.

Each figure is measured `--repeat` times (min / median / max). Runs in a throw-away test database.

    DATABASE_URL=postgres://... python bench/finops_ingest.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from accounts.models import Environment, Organization  # noqa: E402
from bench.common import load_note, readme_row, verdict  # noqa: E402
from bench.common import spread as ranges  # noqa: E402
from connections.models import Connection, ConnectionAuthorization  # noqa: E402
from connections.providers.costs import CostRow  # noqa: E402
from finops import reports, services  # noqa: E402
from finops.models import CostRecord  # noqa: E402

ON = dt.date(2026, 11, 20)
SERVICES = 50
COPY_COLUMNS = (
    "org_id", "connection_id", "environment_id", "provider", "charge_period_start", "charge_period_end",
    "billing_period_start", "billing_period_end", "billed_cost", "effective_cost", "list_cost", "billing_currency",
    "charge_category", "provider_name", "service_name", "service_category", "sub_account_id", "region_id",
    "resource_id", "environment_tag", "tags", "created_at", "updated_at",
)  # fmt: skip


def make_rows(total: int, days: int = 100) -> list[CostRow]:
    """`total` distinct rows over `days` days up to ON: services x resources per day, two environment tags."""
    per_day = max(1, total // days)
    resources = max(1, per_day // SERVICES)
    rows: list[CostRow] = []
    first = ON - dt.timedelta(days=days - 1)
    for d in range(days):
        day = first + dt.timedelta(days=d)
        for s in range(SERVICES):
            for r in range(resources):
                if len(rows) >= total:
                    return rows
                amount = Decimal(f"{(d * 7 + s * 3 + r) % 997}.{(s + r) % 100:02d}")
                rows.append(CostRow(day=day, service_name=f"Service {s:02d}", billed_cost=amount,
                                    effective_cost=amount, billing_currency="USD", resource_id=f"res-{s}-{r}",
                                    environment_tag="production" if r % 3 else "staging",
                                    tags={"environment": "production" if r % 3 else "staging"}))  # fmt: skip
    return rows


def write_path(conn: Connection, rows: list[CostRow]) -> float:
    CostRecord.objects.all().delete()
    started = time.perf_counter()
    records = services.build_records(conn, rows)
    with transaction.atomic():
        services.replace_range(conn, rows[0].day, rows[-1].day + dt.timedelta(days=1), records)
    return time.perf_counter() - started


def raw_copy(conn: Connection, rows: list[CostRow], env_ids: dict[str, int]) -> float:
    CostRecord.objects.all().delete()
    started = time.perf_counter()
    now = "2026-11-20T00:00:00+00:00"
    buffer = io.StringIO()
    for r in rows:
        month = r.day.replace(day=1)
        buffer.write("\t".join((
            str(conn.org_id), str(conn.pk), str(env_ids.get(r.environment_tag, "\\N")), "aws", r.day.isoformat(),
            (r.day + dt.timedelta(days=1)).isoformat(), month.isoformat(), services.next_month(r.day).isoformat(),
            str(r.billed_cost), str(r.effective_cost), "\\N", r.billing_currency, r.charge_category, "AWS",
            r.service_name, r.service_category, r.sub_account_id, r.region_id, r.resource_id, r.environment_tag,
            f'{{"environment": "{r.environment_tag}"}}', now, now,
        )) + "\n")  # fmt: skip
    sql = f"COPY finops_costrecord ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.write(buffer.getvalue())
    return time.perf_counter() - started


def hand_written(org_id: int) -> float:
    """The dashboard's figures as plain GROUP BY queries (what a person would write)."""
    first, prev = ON.replace(day=1), (ON.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    same_day = prev + dt.timedelta(days=ON.day)
    queries = [
        ("SELECT billing_currency, SUM(billed_cost), SUM(effective_cost) FROM finops_costrecord WHERE org_id=%s "
         "AND charge_period_start >= %s AND charge_period_start <= %s GROUP BY billing_currency", [org_id, first, ON]),
        ("SELECT billing_currency, SUM(billed_cost), SUM(effective_cost) FROM finops_costrecord WHERE org_id=%s "
         "AND charge_period_start >= %s AND charge_period_start < %s GROUP BY billing_currency",
         [org_id, prev, same_day]),
        ("SELECT billing_currency, SUM(billed_cost), SUM(effective_cost) FROM finops_costrecord WHERE org_id=%s "
         "AND charge_period_start >= %s AND charge_period_start < %s GROUP BY billing_currency", [org_id, prev, first]),
        ("SELECT service_name, billing_currency, SUM(billed_cost), SUM(effective_cost) FROM finops_costrecord "
         "WHERE org_id=%s AND charge_period_start >= %s AND charge_period_start <= %s "
         "GROUP BY service_name, billing_currency ORDER BY 3 DESC", [org_id, first, ON]),
        ("SELECT e.slug, c.billing_currency, SUM(c.billed_cost), SUM(c.effective_cost) FROM finops_costrecord c "
         "LEFT JOIN accounts_environment e ON e.id = c.environment_id WHERE c.org_id=%s "
         "AND c.charge_period_start >= %s AND c.charge_period_start <= %s GROUP BY e.slug, c.billing_currency "
         "ORDER BY 3 DESC", [org_id, first, ON]),
        ("SELECT n.name, c.billing_currency, SUM(c.billed_cost), SUM(c.effective_cost) FROM finops_costrecord c "
         "JOIN connections_connection n ON n.id = c.connection_id WHERE c.org_id=%s "
         "AND c.charge_period_start >= %s AND c.charge_period_start <= %s GROUP BY n.name, c.billing_currency "
         "ORDER BY 3 DESC", [org_id, first, ON]),
        ("SELECT provider, billing_currency, SUM(billed_cost), SUM(effective_cost) FROM finops_costrecord "
         "WHERE org_id=%s AND charge_period_start >= %s AND charge_period_start <= %s "
         "GROUP BY provider, billing_currency ORDER BY 3 DESC", [org_id, first, ON]),
        ("SELECT charge_period_start, billing_currency, SUM(billed_cost), SUM(effective_cost) FROM finops_costrecord "
         "WHERE org_id=%s AND charge_period_start > %s AND charge_period_start <= %s "
         "GROUP BY charge_period_start, billing_currency ORDER BY 1", [org_id, ON - dt.timedelta(days=30), ON]),
        ("SELECT environment_id, billing_currency, SUM(billed_cost), MAX(charge_period_start) FROM finops_costrecord "
         "WHERE org_id=%s AND charge_period_start >= %s AND charge_period_start < %s "
         "GROUP BY environment_id, billing_currency", [org_id, first, services.next_month(ON)]),
    ]  # fmt: skip
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for sql, params in queries:
            cursor.execute(sql, params)
            cursor.fetchall()
    return time.perf_counter() - started


def timed_dashboard(org: Organization) -> tuple[float, int]:
    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        reports.dashboard(org, on=ON)
        elapsed = time.perf_counter() - started
    return elapsed, len(ctx.captured_queries)


def spread(values: list[float]) -> str:
    return f"min {min(values):,.0f} / median {statistics.median(values):,.0f} / max {max(values):,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("finops_ingest needs PostgreSQL (DATABASE_URL=postgres://...): COPY is the baseline.")
        return
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        org = Organization.objects.create(slug="bench", name="Bench", plan="enterprise")
        envs = {s: Environment.objects.create(org=org, slug=s, name=s) for s in ("staging", "production")}
        conn = Connection(org=org, name="aws-bench", provider="aws", category="cloud", auth_method="assume_role",
                          config={"account_id": "123456789012", "region": "us-east-1"})  # fmt: skip
        conn.save()
        for env in envs.values():
            ConnectionAuthorization.objects.create(connection=conn, environment=env, org=org, provider="aws")
        from finops.models import Budget  # late import: after django.setup(), with the other models

        Budget.objects.create(org=org, name="All", amount=Decimal("100000"))
        Budget.objects.create(org=org, name="Prod", scope="environment", environment=envs["production"],
                              amount=Decimal("50000"))  # fmt: skip

        small = make_rows(1000)
        write_path(conn, small)
        _, small_queries = timed_dashboard(org)

        rows = make_rows(args.rows)
        env_ids = {slug: env.pk for slug, env in envs.items()}
        ours, copies = [], []
        for _ in range(args.repeat):
            copies.append(len(rows) / raw_copy(conn, rows, env_ids))
            ours.append(len(rows) / write_path(conn, rows))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE finops_costrecord")
        dash, raw = [], []
        big_queries = 0
        for _ in range(args.repeat):
            elapsed, big_queries = timed_dashboard(org)
            dash.append(elapsed * 1000)
            raw.append(hand_written(org.pk) * 1000)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    ratio = [o / c for o, c in zip(ours, copies, strict=True)]
    dash_ratio = [d / r for d, r in zip(dash, raw, strict=True)]
    print(f"PostgreSQL; {len(rows):,} cost rows; {args.repeat} repetitions (min / median / max)")
    print(f"COPY:                 {spread(copies)} rows/s")
    print(f"sync write path:      {spread(ours)} rows/s")
    print(f"write path / COPY:    {min(ratio):.2f} / {statistics.median(ratio):.2f} / {max(ratio):.2f}  "
          "(target >= 0.30)")
    print(f"dashboard figures:    {min(dash):.0f} / {statistics.median(dash):.0f} / {max(dash):.0f} ms")
    print(f"hand-written GROUP BY:{min(raw):.0f} / {statistics.median(raw):.0f} / {max(raw):.0f} ms")
    print(f"dashboard / GROUP BY: {min(dash_ratio):.2f} / {statistics.median(dash_ratio):.2f} / "
          f"{max(dash_ratio):.2f}  (target <= 1.5)")
    print(f"dashboard queries:    {small_queries} at 1,000 rows, {big_queries} at {len(rows):,} rows "
          f"({'equal' if small_queries == big_queries else 'DIFFER'})")
    readme_row(
        "bench/finops_ingest.py",
        f"{len(rows):,} FOCUS rows: the sync's write path vs raw `COPY`; the dashboard vs hand-written `GROUP BY` "
        f"({args.repeat} repetitions)",
        f"write path / COPY {ranges(ratio)} ({verdict(ratio, at_least=0.3)}; {spread(ours)} rows/s against COPY's "
        f"{spread(copies)}); dashboard / GROUP BY {ranges(dash_ratio)} ({verdict(dash_ratio, at_most=1.5)}; "
        f"{ranges(dash, '{:,.0f}', ' ms')}); {small_queries} queries at 1,000 rows and {big_queries} at "
        f"{len(rows):,}; {load_note()}",
    )


if __name__ == "__main__":
    main()
