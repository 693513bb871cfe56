"""Benchmark: the list, detail and audit APIs at 10,000 connections and 10,000 audit events, against /api/v1/me.

Not a test: it prints figures. In one process (Django's test client through the whole middleware stack, DEBUG
off, an API token), on PostgreSQL when DATABASE_URL is set (SQLite otherwise), in a throw-away test database. Every
repetition times each endpoint `--requests` times, the endpoints interleaved request by request so that load
on the shared machine hits them alike, and divides each endpoint's median by /api/v1/me's median of the same
repetition. Each line prints those ratios as min / median / max over the repetitions.

Targets (issue 13): connections list (a page of 50) <= 3x /api/v1/me, audit list <= 2x, connection detail
<= 2x, and a deep page (page 40, reached by following `next` 39 times) <= 1.2x page 1. Query counts are
printed with each figure: they must not depend on the number of rows.

    DATABASE_URL=postgres://... python bench/api_lists.py [--requests 40] [--repeat 5] [--profile list]

`--profile` prints cProfile's figures for one endpoint instead (BENCH_SORT=tottime to sort by own time,
BENCH_CALLERS=<function> for its callers); BENCH_EXTRA=1 adds a page of one row, which separates the fixed
cost of a list request from the cost per row.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import os
import pstats
import secrets
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("AXES_ENABLED", "false")
# Production-like: DEBUG off (no browsable API renderer, no query log), throw-away keys for the throw-away database.
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("CONNECTIONS_KEYS", "bench:" + base64.b64encode(secrets.token_bytes(32)).decode())

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from accounts.models import AuditEvent, Environment, Membership, Organization, User  # noqa: E402
from accounts.services import do_create_token  # noqa: E402
from bench.common import load_note, readme_row, verdict  # noqa: E402
from connections.models import Connection, ConnectionAuthorization  # noqa: E402
from connections.secrets import secret_context  # noqa: E402
from core import crypto  # noqa: E402

ENVIRONMENTS = ("development", "staging", "production")
ROWS = 10_000
ORG = "bench"
# A realistic mix: tokens (git), keys with a region (cloud), a registry referencing a cloud connection.
KINDS = (
    ("github", "git", "pat", {"base_url": "https://api.github.com", "organization": "acme"}, "token"),
    ("aws", "cloud", "access_key", {"account_id": "123456789012", "region": "eu-west-1",
                                    "access_key_id": "AKIAEXAMPLE0000000"}, "secret_access_key"),
    ("gitlab", "git", "pat", {"base_url": "https://gitlab.com", "organization": "acme"}, "token"),
    ("digitalocean", "cloud", "api_token", {}, "token"),
)


def fill(org: Organization, envs: list[Environment], user: User) -> None:
    """10,000 connections (encrypted payloads, half never used, a third authorized somewhere) and 10,000
    audit events (bulk-inserted: the list does not verify the chain)."""
    ring = crypto.KeyRing.from_settings()
    now = timezone.now()
    batch: list[Connection] = []
    for i in range(ROWS):
        provider, category, method, config, secret = KINDS[i % len(KINDS)]
        conn = Connection(org=org, name=f"{provider[:6]}-{i:05d}", provider=provider, category=category,
                          auth_method=method, config=dict(config), created_by=user, updated_by=user,
                          last_used_at=None if i % 2 else now - timedelta(minutes=i % 500))
        conn.secrets_envelope = crypto.encrypt_json({secret: f"s3cr3t-{i:030d}"}, context=secret_context(conn),
                                                    ring=ring)
        conn.secrets_key_id = ring.primary.kid
        conn.secret_fingerprints = {secret: crypto.fingerprint(f"s3cr3t-{i:030d}", ring=ring)}
        batch.append(conn)
    Connection.objects.bulk_create(batch, batch_size=1000)
    auths = [
        ConnectionAuthorization(connection=conn, environment=envs[i % 3], org=org, provider=conn.provider)
        for i, conn in enumerate(batch) if i % 3 == 0
    ]
    ConnectionAuthorization.objects.bulk_create(auths, batch_size=1000)
    start = AuditEvent.objects.filter(org=org).count()  # after the token's own event
    events = [
        AuditEvent(org=org, seq=start + i + 1, created_at=now - timedelta(seconds=ROWS - i), actor_type="user",
                   actor_user=user, actor_label=user.email, action="connection.tested", target_type="connection",
                   target_id=str(batch[i].pk), target_repr=batch[i].name, environment=ENVIRONMENTS[i % 3],
                   request_id=f"req-{i:08d}", client_ip="127.0.0.1", details={"outcome": "ok", "duration_ms": i},
                   prev_hash=f"{i:064x}", hash=f"{i + 1:063x}b")
        for i in range(ROWS)
    ]
    AuditEvent.objects.bulk_create(events, batch_size=1000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # fresh statistics, as autovacuum would give a live database
            cursor.execute("ANALYZE")


def get(client: APIClient, path: str) -> dict:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:300])
    return response.json()


def deep_page(client: APIClient, path: str, pages: int) -> str:
    """The URL of page `pages`, reached as a client would: following `next` from page 1."""
    url = path
    for _ in range(pages - 1):
        url = get(client, url)["next"]
        assert url, "fewer pages than asked for"
    return url


def queries(client: APIClient, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        get(client, path)
    return len(ctx.captured_queries)


def run(client: APIClient, endpoints: dict[str, str], requests: int) -> dict[str, float]:
    """Median ms per endpoint, the endpoints interleaved request by request."""
    timings: dict[str, list[float]] = {name: [] for name in endpoints}
    for _ in range(requests):
        for name, path in endpoints.items():
            started = time.perf_counter()
            response = client.get(path)
            timings[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
    return {name: statistics.median(values) for name, values in timings.items()}


def spread(values: list[float]) -> str:
    return f"{min(values):5.2f} / {statistics.median(values):5.2f} / {max(values):5.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="requests per endpoint and repetition")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", choices=["list", "audit", "detail", "deep"], help="cProfile one endpoint")
    args = parser.parse_args()

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        org = Organization.objects.create(slug=ORG, name="Bench", plan="enterprise")
        envs = [Environment.objects.create(org=org, slug=s, name=s) for s in ENVIRONMENTS]
        user = User.objects.create_user("admin@bench.test", "bench-password-1")
        Membership.objects.create(user=user, org=org, role="admin")
        _, token = do_create_token(org, actor=user, name="bench")
        started = time.perf_counter()
        fill(org, envs, user)
        print(f"filled {ROWS:,} connections and {ROWS:,} audit events in {time.perf_counter() - started:.0f} s")
        client = APIClient()  # authenticated as API clients are: a bearer token (one lookup per request)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

        base = f"/api/v1/orgs/{ORG}"
        endpoints = {
            "me": "/api/v1/me",
            "list": f"{base}/connections/",
            "audit": f"{base}/audit/",
            "detail": f"{base}/connections/{Connection.objects.filter(provider='aws').order_by('name')[5].name}/",
        }
        if os.environ.get("BENCH_EXTRA"):  # where the time goes: a page of one row, the same filters
            endpoints["list1"] = endpoints["list"] + "?page_size=1"
        endpoints["deep"] = deep_page(client, endpoints["list"], 40)
        endpoints["audit_deep"] = deep_page(client, endpoints["audit"], 40)
        counts = {name: queries(client, path) for name, path in endpoints.items()}
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.requests):
                client.get(endpoints[args.profile])
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative"))
            stats.print_stats(45)
            if os.environ.get("BENCH_CALLERS"):
                stats.print_callers(os.environ["BENCH_CALLERS"])
            return
        run(client, endpoints, 5)  # warm-up
        medians = [run(client, endpoints, args.requests) for _ in range(args.repeat)]
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    print(f"database: {connection.vendor}; {args.repeat} repetitions x {args.requests} interleaved requests "
          "per endpoint; figures: min / median / max over the repetitions")
    print(f"{'endpoint':<34} {'ms':>23}   {'ratio':>23}   queries   target")
    rows = [
        ("me", "/api/v1/me", "me", ""),
        ("list", "connections list, page 1 of 50", "me", "<= 3.0"),
        ("deep", "connections list, page 40", "me", ""),
        ("deep", "  page 40 / page 1", "list", "<= 1.2"),
        ("detail", "connection detail", "me", "<= 2.0"),
        ("audit", "audit list, page 1 of 50", "me", "<= 2.0"),
        ("audit_deep", "audit list, page 40", "me", ""),
        ("audit_deep", "  page 40 / page 1", "audit", "<= 1.2"),
    ]
    if os.environ.get("BENCH_EXTRA"):
        rows.append(("list1", "connections list, page of 1", "me", ""))
    for name, label, base_name, target in rows:
        ms = [m[name] for m in medians]
        ratios = [m[name] / m[base_name] for m in medians]
        print(f"{label:<34} {spread(ms):>23}   {spread(ratios):>23}   {counts[name]:>7}   {target}")
    figures = []
    for name, label, base_name, target in rows:
        if not target:
            continue
        ratios = [m[name] / m[base_name] for m in medians]
        figures.append(f"{label.strip()} {spread(ratios)}x ({verdict(ratios, at_most=float(target[2:]))})")
    readme_row(
        "bench/api_lists.py",
        f"API in one process ({connection.vendor}, DEBUG off, 10,000 connections and 10,000 audit events; each "
        f"endpoint as a ratio to `/api/v1/me` in the same repetition, {args.repeat} repetitions)",
        "; ".join(figures) + f"; {load_note()}",
    )


if __name__ == "__main__":
    main()
