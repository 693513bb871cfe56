"""Benchmark: connections list API at 100 vs 10,000 connections, and selection vs a trivial endpoint.

Not a test: it prints figures. Uses PostgreSQL when DATABASE_URL is set, SQLite otherwise, in a
throw-away test database. Everything is measured in one run so the ratios compare like with like.

Targets: the same query count at both sizes; list latency ratio 10,000/100 at most 1.3; the
selection endpoint at most 2x a trivial authenticated endpoint (/api/v1/me).

    python bench/connections_list.py [--requests 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("AXES_ENABLED", "false")

import django

django.setup()

from django.db import connection, reset_queries  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from accounts.models import Environment, Membership, Organization, User  # noqa: E402
from bench.common import load_note, readme_row, spread, verdict  # noqa: E402
from connections.models import Connection, ConnectionAuthorization  # noqa: E402
from connections.secrets import secret_context  # noqa: E402
from core import crypto  # noqa: E402

ENVIRONMENTS = ("development", "staging", "production")


def measure(client: APIClient, path: str, requests: int) -> tuple[float, int]:
    """Median latency in ms over `requests` calls (after 5 warm-up calls) and the query count of one call."""
    for _ in range(5):
        assert client.get(path).status_code == 200, path
    reset_queries()  # request_started clears the log too; start from zero so the slice is right
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, response.content[:300]
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), len(ctx.captured_queries)


def grow(org: Organization, envs: list[Environment], total: int) -> None:
    """Add connections (real encrypted payloads, authorizations on the first few) up to `total`."""
    ring = crypto.KeyRing.from_settings()
    start = Connection.objects.filter(org=org).count()
    batch: list[Connection] = []
    for i in range(start, total):
        conn = Connection(
            org=org, name=f"gh-{i:05d}", provider="github", category="git", auth_method="pat",
            config={"base_url": "https://api.github.com", "organization": "acme"},
        )
        conn.secrets_envelope = crypto.encrypt_json(
            {"token": f"ghp_{i:036d}"}, context=secret_context(conn), ring=ring
        )
        conn.secrets_key_id = ring.primary.kid
        conn.secret_fingerprints = {"token": crypto.fingerprint(f"ghp_{i:036d}", ring=ring)}
        batch.append(conn)
        if len(batch) == 1000:
            Connection.objects.bulk_create(batch)
            batch = []
    Connection.objects.bulk_create(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # fresh statistics, as autovacuum would give a live database
            cursor.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        org = Organization.objects.create(slug="bench", name="Bench", plan="enterprise")
        envs = [Environment.objects.create(org=org, slug=s, name=s) for s in ENVIRONMENTS]
        user = User.objects.create_user("admin@bench.test", "bench-password-1")
        Membership.objects.create(user=user, org=org, role="admin")
        client = APIClient()
        client.force_authenticate(user)

        aws = Connection(org=org, name="aws-prod", provider="aws", category="cloud", auth_method="assume_role",
                         config={"account_id": "123456789012", "region": "us-east-1"})
        aws.save()
        ConnectionAuthorization.objects.create(
            connection=aws, environment=envs[2], org=org, provider="aws", is_default=True
        )

        list_path = "/api/v1/orgs/bench/connections/"
        selection_path = "/api/v1/orgs/bench/environments/production/selection?provider=aws"
        small: list[float] = []
        big: list[float] = []
        me: list[float] = []
        sel: list[float] = []
        grow(org, envs, 100)
        for _ in range(args.repeat):
            ms, small_q = measure(client, list_path, args.requests)
            small.append(ms)
        grow(org, envs, 10_000)
        for _ in range(args.repeat):  # each repetition measures the baseline and the endpoints side by side
            ms, big_q = measure(client, list_path, args.requests)
            big.append(ms)
            me.append(measure(client, "/api/v1/me", args.requests)[0])
            ms, sel_q = measure(client, selection_path, args.requests)
            sel.append(ms)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    size_ratio = [b / s for b, s in zip(big, small, strict=True)]
    sel_ratio = [s / m for s, m in zip(sel, me, strict=True)]
    vendor = connection.vendor
    print(f"database: {vendor}; {args.requests} requests per figure (median), {args.repeat} repetitions")
    print(f"list @100 connections:    {spread(small, unit=' ms')}, {small_q} queries")
    print(f"list @10,000 connections: {spread(big, unit=' ms')}, {big_q} queries")
    print(f"ratio 10,000/100:         {spread(size_ratio)}  ({verdict(size_ratio, at_most=1.3)})  "
          f"queries {'equal' if big_q == small_q else 'DIFFER'}")  # fmt: skip
    print(f"/api/v1/me (trivial):     {spread(me, unit=' ms')}")
    print(f"selection endpoint:       {spread(sel, unit=' ms')}, {sel_q} queries")
    print(f"ratio selection/trivial:  {spread(sel_ratio)}  ({verdict(sel_ratio, at_most=2.0)})")
    readme_row(
        "bench/connections_list.py",
        f"list API (first page) at 100 vs 10,000 connections; selection vs `/api/v1/me` (in-process, {vendor})",
        f"{small_q} queries at 100 and {big_q} at 10,000; latency 10,000/100 {spread(size_ratio)} "
        f"({verdict(size_ratio, at_most=1.3)}); selection / `me` {spread(sel_ratio)} "
        f"({verdict(sel_ratio, at_most=2.0)}); {load_note()}",
    )


if __name__ == "__main__":
    main()
