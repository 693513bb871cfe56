"""Benchmark: pages and API lists under gunicorn and real load, each paired with /api/v1/me (issue 13).

Not a test: it prints figures. It measures what a user of a grown organization feels, end to end: gunicorn
with 4 sync workers and DEBUG off (as README "Production" deploys it, minus TLS: loopback only; the shared
cache is Redis, BENCH_CACHE_URL, default redis://127.0.0.1:6379/13), PostgreSQL,
16 concurrent clients (Debian's `wrk`), one organization with 10,000 connections and 10,000 audit events.

Every figure is a RATIO to a baseline measured in the same repetition, right before or after it (the order
flips every repetition, so a machine that speeds up or slows down does not favour either side): the trivial
authenticated endpoint GET /api/v1/me, page 1 for a deep page, the 10-item organization for the 1,000-item
one. Each ratio is printed as min / median / max of the repetitions, with the target beside it. Medians of
p50 latency and of requests per second, and response sizes, are printed for context; on a shared 2-CPU
machine absolute numbers move with the load, the ratios much less.

What it does, in order:
1. Creates a throw-away PostgreSQL database `<name>_bench` on the server of DATABASE_URL (default
   postgres://postgres:postgres@127.0.0.1:5432/cc_load, so `cc_load_bench`); one left over by a crashed or
   --keep-db run is dropped first. It never touches `<name>` itself.
2. Migrates, collects static files (DEBUG off serves the hashed manifest), and seeds through the services
   where they exist and bulk inserts where a service per row would take minutes:
   - organization `bench` (3 environments): 10,000 connections (nine GitHub PATs for every AWS assume-role
     connection; real encrypted payloads through `store_secrets`; each AWS one has a role and an
     authorization) and 10,000 audit events appended to its hash chain (the chain stays valid);
   - organizations `size-10` and `size-1000`: that many members, environments, and one AWS connection
     `aws-main` with that many authorizations (one per environment) and roles;
   - the bench user (admin everywhere), an API token for `bench`, and a signed-in session; then VACUUM
     ANALYZE, the state autovacuum keeps a live database in (statistics, and a visibility map so a page's
     COUNT(*) reads the index only).
3. Starts gunicorn on a free loopback port and checks every URL answers 200 (no redirect) before timing.
   The deep pages are reached by following the API's `next` link (DRF's, an absolute URL) 39 times, so
   the bench works whatever the pagination style (page numbers or cursors).
4. Runs wrk per URL (`--duration` seconds each, after a warm-up pass) and prints the table. After each run
   it waits until the workers have finished what wrk left queued (sync workers finish abandoned requests),
   and a URL that answered fewer than 48 requests in a run is run again at once for longer (up to 60 s,
   printed under the table; the second run is kept whatever it gives): a slow page's first answers come
   before the queue forms and would flatter it.
5. Stops gunicorn and drops the database at the end, also on Ctrl-C, SIGTERM or an exception.

Exit status: 0 whether targets are met or not (it is a measurement); 1 with one line when any request
failed (non-2xx status, socket error or timeout, counted by wrk's Lua hooks); 2 when it cannot run
(no wrk, no PostgreSQL, a URL that does not answer 200 before timing).

"Same size class" (members page) means the 1,000-member page is at most 3x the bytes of the 10-member one.

    apt-get install wrk        # Debian's wrk (`make wrk` does it when missing)
    python bench/http_load.py [--repetitions 3] [--duration 5] [--connections 10000] [--keep-db]
    python bench/http_load.py --quick     # small sizes, 2 s runs, 1 repetition: checks the bench itself runs
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres:postgres@127.0.0.1:5432/cc_load"
DEFAULT_CACHE_URL = "redis://127.0.0.1:6379/13"
BENCH_ORG = "bench"
BENCH_ENVIRONMENTS = ("development", "staging", "production")
ACCOUNT_ID = "123456789012"
WORKERS = 4
CLIENTS = 16
WRK_THREADS = 2
MIN_REQUESTS = 3 * CLIENTS  # answers a run needs before its p50 is the steady state's (see timed_run)
MAX_SECONDS = 60  # the longest a single run is stretched to reach MIN_REQUESTS
SIZE_CLASS_FACTOR = 3.0  # "same size class": the large page is at most this many times the small one's bytes


class BenchError(Exception):
    """The bench cannot run (missing tool, server not answering, a URL not 200): one line, exit 2."""


# --- wrk: a Lua script that counts non-2xx answers per thread and prints one JSON summary line ------------

WRK_SCRIPT = r"""
local threads = {}
function setup(thread)
  thread:set("bad", 0)
  table.insert(threads, thread)
end
function init(args)
  bad = 0
end
function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
  end
end
function done(summary, latency, requests)
  local bad_total = 0
  for _, t in ipairs(threads) do
    bad_total = bad_total + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'HTTPLOAD {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %.1f, "p90_us": %.1f, '
    .. '"p99_us": %.1f, "non2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), bad_total, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass
class Result:
    """One wrk run against one URL."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Target:
    """A URL to load, with how it authenticates (API token or page session)."""

    key: str
    label: str
    path: str
    auth: str  # "token" | "session"
    size: int = 0  # response bytes, measured once before timing


@dataclass
class Bench:
    base_url: str
    token: str
    session: str
    script: Path
    duration: int
    failures: list[str] = field(default_factory=list)

    def headers(self, target: Target) -> list[str]:
        if target.auth == "token":
            return [f"Authorization: Token {self.token}"]
        return [f"Cookie: sessionid={self.session}"]

    def load(self, target: Target, seconds: int | None = None) -> Result:
        """One wrk run: CLIENTS connections for `seconds`; failures are remembered for the exit status."""
        command = ["wrk", "-t", str(WRK_THREADS), "-c", str(CLIENTS), "-d", f"{seconds or self.duration}s",
                   "--timeout", "60s", "-s", str(self.script)]
        for header in self.headers(target):
            command += ["-H", header]
        command.append(self.base_url + target.path)
        done = subprocess.run(command, capture_output=True, text=True, timeout=(seconds or self.duration) + 120)
        line = next((x for x in done.stdout.splitlines() if x.startswith("HTTPLOAD ")), None)
        if done.returncode != 0 or line is None:
            raise BenchError(f"wrk failed on {target.path}: {(done.stderr or done.stdout).strip()[:300]}")
        self.drain()
        data = json.loads(line.removeprefix("HTTPLOAD "))
        failures = {k: data[k] for k in ("non2xx", "connect", "read", "write", "timeout") if data[k]}
        if failures:
            self.failures.append(f"{target.label} ({target.path}): {failures}")
        return Result(
            requests=data["requests"],
            seconds=data["duration_us"] / 1e6,
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            failures=failures,
        )

    def drain(self) -> None:
        """Wait for the requests a wrk run left behind. gunicorn's sync workers finish every request they
        accepted even after wrk has hung up (up to CLIENTS of them, ~1 s each for a slow page on a loaded
        machine): without this the next run would start on a busy server and measure the previous URL.
        A /healthz per worker queues behind them; a short pause covers a worker still on its last one."""
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(lambda _: urllib.request.urlopen(f"{self.base_url}/healthz", timeout=600).read(),
                          range(WORKERS)))
        time.sleep(0.3)

    def fetch(self, target: Target) -> bytes:
        """One plain request (no redirects followed): the body of a 200, or BenchError."""
        request = urllib.request.Request(self.base_url + target.path)
        for header in self.headers(target):
            name, value = header.split(": ", 1)
            request.add_header(name, value)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=120) as response:
                body = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raise BenchError(f"{target.label}: GET {target.path} answered {exc.code}, not 200") from None
        if status != 200:
            raise BenchError(f"{target.label}: GET {target.path} answered {status}, not 200")
        return body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect (to the login page, to https) means the bench is not measuring what it says: fail."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# --- database and server lifecycle -----------------------------------------------------------------------


def bench_database_url(url: str) -> tuple[str, str]:
    """(URL of the throw-away database `<name>_bench`, its name) on the server of `url`."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise BenchError(f"DATABASE_URL must be PostgreSQL (got {parts.scheme}://...): the bench measures it")
    name = parts.path.lstrip("/") or "cc_load"
    bench_name = f"{name}_bench"
    return parts._replace(path=f"/{bench_name}").geturl(), bench_name


def maintenance_connection(url: str) -> Any:
    """An autocommit connection to the server's `postgres` database, to create and drop the bench one."""
    import psycopg

    parts = urlsplit(url)
    try:
        return psycopg.connect(
            host=parts.hostname or "127.0.0.1", port=parts.port or 5432, user=parts.username,
            password=parts.password, dbname="postgres", autocommit=True, connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        raise BenchError(f"cannot reach PostgreSQL at {parts.hostname}:{parts.port}: {exc}".strip()) from None


def drop_database(url: str, name: str) -> None:
    from psycopg import sql

    with maintenance_connection(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_database(url: str, name: str) -> None:
    from psycopg import sql

    with maintenance_connection(url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            print(f"dropping {name}, left over by an earlier run")
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def production_environment(database_url: str) -> dict[str, str]:
    """What a production deploy sets (README "Production"), for loopback: no TLS, so no SSL redirect."""
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CONNECTIONS_KEYS": "bench1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": database_url,
        # Shared by the workers, as README "Production" sets it (login limits, rendered page fragments).
        "CACHE_URL": os.environ.get("BENCH_CACHE_URL", DEFAULT_CACHE_URL),
        "OIDC_ISSUER_URL": "http://127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


def check_cache(url: str) -> None:
    """The shared cache answers (a bench against a dead Redis would time its error handling)."""
    if not url.startswith("redis"):
        return
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise BenchError(f"cannot reach the cache at {url} (BENCH_CACHE_URL): {exc}") from None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(env: dict[str, str], log: Path) -> Iterator[str]:
    """gunicorn with the project's config and 4 workers on a free loopback port; stopped on the way out."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn", "--workers", str(WORKERS),
               "--bind", f"127.0.0.1:{port}", "config.wsgi"]
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                raise BenchError("gunicorn did not start: " + " | ".join(tail))
            time.sleep(0.2)
        yield base_url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


# --- seeding ---------------------------------------------------------------------------------------------


@dataclass
class Sizes:
    connections: int
    audit_events: int
    small: int
    large: int
    deep_page: int


@dataclass
class Seeded:
    token: str
    session: str
    detail_connection: str
    seconds: float


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed(sizes: Sizes) -> Seeded:
    """Migrate, collect static files, create the organizations, rows, token and session; VACUUM ANALYZE."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection

    from accounts import services
    from accounts.choices import PlanChoices
    from accounts.models import User

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    user = User.objects.create_user("bench@bench.test", secrets.token_urlsafe(16))
    org = services.do_create_organization(
        slug=BENCH_ORG, name="Bench", plan=PlanChoices.ENTERPRISE, acting_user=user
    )
    for slug in BENCH_ENVIRONMENTS:
        services.do_create_environment(org, actor=user, slug=slug, name=slug.title())
    _, token = services.do_create_token(org, actor=user, name="http-load")
    detail_name = seed_connections(org, user, sizes.connections)
    seed_audit_events(org, user, sizes.audit_events)
    for count in (sizes.small, sizes.large):
        size_org = services.do_create_organization(
            slug=f"size-{count}", name=f"{count} of everything", plan=PlanChoices.ENTERPRISE, acting_user=user
        )
        seed_size_org(size_org, user, count)

    session = SessionStore()  # what django.contrib.auth.login() stores for a signed-in user
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    with connection.cursor() as cursor:  # what autovacuum gives a live database: statistics and the visibility
        cursor.execute("VACUUM ANALYZE")  # map (COUNT(*) of a page's total reads the index only, not the rows)
    return Seeded(token=token, session=session.session_key or "", detail_connection=detail_name,
                  seconds=time.perf_counter() - started)


def template_connection(org: Any, user: Any, provider: str, name: str, environments: tuple[str, ...] = ()) -> Any:
    """One connection made by the service (validation, external id, audit): the bulk rows copy its shape."""
    from connections import services

    config = {"account_id": ACCOUNT_ID, "region": "us-east-1"} if provider == "aws" else {
        "base_url": "https://api.github.com", "organization": "acme"}
    secrets_ = {} if provider == "aws" else {"token": "ghp_" + "0" * 36}
    return services.do_create_connection(
        org, actor=user, name=name, provider=provider, auth_method="assume_role" if provider == "aws" else "pat",
        config=config, secrets=secrets_, environments=environments,
    )


def clone(template: Any, name: str, secret_values: dict[str, str]) -> Any:
    """An unsaved copy of `template` named `name`, its secrets encrypted as the service does."""
    from connections.models import Connection
    from connections.services import store_secrets

    conn = Connection(
        org=template.org, name=name, provider=template.provider, category=template.category,
        auth_method=template.auth_method, config=dict(template.config), created_by=template.created_by,
        updated_by=template.updated_by, external_id=secrets.token_urlsafe(32) if template.external_id else "",
    )
    store_secrets(conn, secret_values)
    return conn


def role_row(conn: Any, index: int, user: Any) -> Any:
    from connections.models import ConnectionRole

    return ConnectionRole(
        org_id=conn.org_id, connection=conn, name=f"role-{index:04d}",
        role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/bench-{index:04d}", session_duration=3600, status="valid",
        granted_permissions=["ec2:Describe*", "s3:GetObject", "s3:PutObject", "iam:PassRole"],
        detected_permissions=["ec2:DescribeInstances", "s3:GetObject"], created_by=user,
    )


def seed_connections(org: Any, user: Any, total: int) -> str:
    """`total` connections in `org`: nine GitHub PATs per AWS assume-role connection; each AWS one has a
    role and an authorization. Returns the name of an AWS connection in the middle (the detail API's)."""
    from accounts.models import Environment
    from connections.models import Connection, ConnectionAuthorization, ConnectionRole

    aws = template_connection(org, user, "aws", "aws-template", environments=BENCH_ENVIRONMENTS)
    github = template_connection(org, user, "github", "gh-template")
    envs = list(Environment.objects.filter(org=org).order_by("slug"))
    batch: list[Connection] = []
    detail_name = aws.name
    for i in range(total - 2):
        if i % 10 == 0:
            batch.append(clone(aws, f"aws-{i:05d}", {}))
            if i <= (total - 2) // 2:
                detail_name = f"aws-{i:05d}"
        else:
            batch.append(clone(github, f"gh-{i:05d}", {"token": f"ghp_{i:036d}"}))
        if len(batch) == 1000 or i == total - 3:
            Connection.objects.bulk_create(batch)
            clouds = [c for c in batch if c.provider == "aws"]
            ConnectionAuthorization.objects.bulk_create(
                ConnectionAuthorization(org=org, connection=c, environment=envs[n % len(envs)], provider="aws",
                                        created_by=user)
                for n, c in enumerate(clouds)
            )
            ConnectionRole.objects.bulk_create(role_row(c, n, user) for n, c in enumerate(clouds))
            batch = []
    return detail_name


def seed_audit_events(org: Any, user: Any, count: int) -> None:
    """Append `count` events to `org`'s hash chain exactly as record_event would (same hash, head updated),
    in bulk: `manage.py verify_audit` still passes."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.actors import actor_label
    from accounts.choices import AuditAction
    from accounts.models import AuditEvent, AuditHead, chain_key
    from connections.models import Connection

    actions = [AuditAction.CONNECTION_CREDENTIALS_USED, AuditAction.CONNECTION_UPDATED,
               AuditAction.CONNECTION_AUTHORIZED, AuditAction.CONNECTION_CREDENTIALS_ROTATED]
    targets = list(Connection.objects.filter(org=org).order_by("pk").values_list("pk", "name")[:500])
    actor_type, label = actor_label(user)
    with transaction.atomic():
        head = AuditHead.objects.select_for_update().get(chain=chain_key(org.pk))
        now = timezone.now()
        batch = []
        for i in range(count):
            pk, name = targets[i % len(targets)]
            event = AuditEvent(
                org=org, seq=head.last_seq + 1, prev_hash=head.last_hash, created_at=now + timedelta(microseconds=i),
                actor_type=actor_type, actor_user=user, actor_label=label, action=actions[i % len(actions)],
                target_type="connections.connection", target_id=str(pk), target_repr=name,
                environment=BENCH_ENVIRONMENTS[i % 3], request_id=secrets.token_hex(16), client_ip="127.0.0.1",
                details={"purpose": "terraform plan", "resource": f"run-{i}", "provider": "aws"},
            )
            event.hash = event.compute_hash()
            head.last_seq, head.last_hash, head.count = event.seq, event.hash, head.count + 1
            batch.append(event)
            if len(batch) == 2000:
                AuditEvent.objects.bulk_create(batch)
                batch = []
        AuditEvent.objects.bulk_create(batch)
        head.save()


def seed_size_org(org: Any, user: Any, count: int) -> None:
    """`count` members (the bench user among them), environments, and one AWS connection `aws-main` with
    `count` authorizations (one per environment) and `count` roles."""
    from django.contrib.auth.hashers import make_password

    from accounts.choices import RoleChoices
    from accounts.models import Environment, Membership, User
    from connections.models import ConnectionAuthorization, ConnectionRole

    password = make_password(secrets.token_urlsafe(16))  # one hash for all: hashing 1,000 would take minutes
    roles = [RoleChoices.VIEWER, RoleChoices.USER, RoleChoices.PROVISIONER, RoleChoices.ADMIN]
    users = User.objects.bulk_create(
        User(email=f"member-{i:04d}@{org.slug}.test", full_name=f"Member {i:04d}", password=password)
        for i in range(count - 1)
    )
    Membership.objects.bulk_create(
        Membership(org=org, user=u, role=roles[i % len(roles)]) for i, u in enumerate(users)
    )
    envs = Environment.objects.bulk_create(
        Environment(org=org, slug=f"env-{i:04d}", name=f"Environment {i:04d}", description="bench")
        for i in range(count)
    )
    conn = template_connection(org, user, "aws", "aws-main")
    ConnectionAuthorization.objects.bulk_create(
        ConnectionAuthorization(org=org, connection=conn, environment=env, provider="aws", is_default=True,
                                created_by=user)
        for env in envs
    )
    ConnectionRole.objects.bulk_create(role_row(conn, i, user) for i in range(count))


# --- measuring -------------------------------------------------------------------------------------------


def follow_next(bench: Bench, first: Target, page: int) -> str:
    """The path of page `page`, reached from `first` by following the JSON's `next` link page-1 times."""
    path = first.path
    for number in range(1, page):
        body = json.loads(bench.fetch(Target(first.key, first.label, path, first.auth)))
        link = body.get("next")
        if not link:
            raise BenchError(f"{first.label}: no `next` link after page {number} (want page {page})")
        parts = urlsplit(link)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
    return path


@dataclass
class Row:
    """One line of the table: `key` over `ref`, against a target."""

    label: str
    key: str
    ref: str
    target: float
    size_class: bool = False


def targets_and_rows(bench: Bench, seeded: Seeded, sizes: Sizes) -> tuple[list[list[Target]], list[Row]]:
    """The URLs, grouped as they are measured back to back, and the table's rows over them."""
    api = f"/api/v1/orgs/{BENCH_ORG}"
    me = Target("me", "/api/v1/me", "/api/v1/me", "token")
    conn_api = Target("conn_api", "connections list API", f"{api}/connections/", "token")
    audit_api = Target("audit_api", "audit list API", f"{api}/audit/", "token")
    conn_deep = follow_next(bench, conn_api, sizes.deep_page)
    audit_deep = follow_next(bench, audit_api, sizes.deep_page)

    def pair(key: str, label: str, page: str) -> list[Target]:
        """The same page in the small and the large organization."""
        return [
            Target(f"{key}_{size}", f"{label} ({count})", f"/o/size-{count}/{page}", "session")
            for size, count in (("small", sizes.small), ("large", sizes.large))
        ]

    groups = [
        [Target("conn_page", "connections page (HTML)", f"/o/{BENCH_ORG}/connections/", "session")],
        [conn_api, Target("conn_api_deep", "connections list API deep", conn_deep, "token")],
        [audit_api, Target("audit_api_deep", "audit list API deep", audit_deep, "token")],
        [Target("detail_api", "connection detail API", f"{api}/connections/{seeded.detail_connection}/", "token")],
        pair("members", "members page", "members/"),
        pair("envs", "environments page", "environments/"),
        pair("detail", "connection detail page", "connections/aws-main/"),
    ]
    # Each group has its own /api/v1/me runs, so every ratio pairs runs made back to back.
    groups = [[Target(f"me/{group[0].key}", me.label, me.path, me.auth), *group] for group in groups]
    n, big, deep = f"{sizes.connections:,}", f"{sizes.large:,}", sizes.deep_page
    rows = [
        Row(f"connections page (HTML), {n} connections", "conn_page", "me/conn_page", 3.0),
        Row("connections list API, page of 50", "conn_api", "me/conn_api", 3.0),
        Row(f"audit list API, {sizes.audit_events:,} events", "audit_api", "me/audit_api", 2.0),
        Row("connection detail API", "detail_api", "me/detail_api", 2.0),
        Row(f"connections list API page {deep} vs page 1", "conn_api_deep", "conn_api", 1.2),
        Row(f"audit list API page {deep} vs page 1", "audit_api_deep", "audit_api", 1.2),
        Row(f"members page {big} vs {sizes.small}", "members_large", "members_small", 1.3, size_class=True),
        Row(f"environments page {big} vs {sizes.small}", "envs_large", "envs_small", 1.3),
        Row(f"connection detail page {big} vs {sizes.small} auth/roles", "detail_large", "detail_small", 1.3),
    ]
    return groups, rows


def check_answers(bench: Bench, groups: list[list[Target]]) -> None:
    """Every URL answers 200 without a redirect before anything is timed; API lists hold a page of rows."""
    seen: set[str] = set()
    for group in groups:
        for target in group:
            if target.key in seen:
                continue
            seen.add(target.key)
            body = bench.fetch(target)
            target.size = len(body)
            if target.key in ("conn_api", "audit_api", "conn_api_deep", "audit_api_deep"):
                rows = len(json.loads(body).get("results", []))
                if rows == 0:
                    raise BenchError(f"{target.label}: GET {target.path} holds no rows")
                target.label += f" ({rows} rows)"


def timed_run(bench: Bench, target: Target, durations: dict[str, int], verbose: bool) -> Result:
    """One measurement of `target`, long enough for about MIN_REQUESTS answers (at most MAX_SECONDS).

    With 16 clients on 4 sync workers the first answers of a run come before the queue has formed; a slow
    page that completes only a few requests in `--duration` would report that optimistic start as its p50.
    Such a run is discarded and the URL measured once more at once, for 1.5x the time its count says it
    needs; that second run is kept whatever it gives (retrying until a run is fast enough would keep the
    lucky ones), and the URL keeps the longer duration in later repetitions.
    """
    seconds = durations.get(target.key, bench.duration)
    result = bench.load(target, seconds)
    if verbose:
        print_run(target, seconds, result)
    if result.requests >= MIN_REQUESTS or seconds >= MAX_SECONDS:
        return result
    seconds = min(MAX_SECONDS, math.ceil(1.5 * seconds * MIN_REQUESTS / max(result.requests, 1)))
    durations[target.key] = seconds
    result = bench.load(target, seconds)
    if verbose:
        print_run(target, seconds, result)
    return result


def print_run(target: Target, seconds: int, result: Result) -> None:
    failed = f", FAILED {result.failures}" if result.failures else ""
    print(f"    {target.key:<16} {seconds:>3} s: {result.requests:>6} requests, p50 {result.p50_ms:8.1f} ms, "
          f"p99 {result.p99_ms:8.1f} ms{failed}", flush=True)


def measure(
    bench: Bench, groups: list[list[Target]], repetitions: int, warmup: int, verbose: bool = False
) -> tuple[dict[str, list[Result]], dict[str, int]]:
    """Every group (its /api/v1/me first) once per repetition; the order within a group flips every
    repetition so a drifting machine does not favour the baseline or the endpoint. Returns the runs and
    the URLs that needed longer runs than --duration (with their seconds)."""
    for group in groups:  # warm every worker: imports, template compilation, connections
        for target in group:
            bench.load(target, seconds=warmup)
    results: dict[str, list[Result]] = {}
    durations: dict[str, int] = {}
    for rep in range(repetitions):
        started = time.perf_counter()
        for group in groups:
            runs = group if rep % 2 == 0 else list(reversed(group))
            for target in runs:
                results.setdefault(target.key, []).append(timed_run(bench, target, durations, verbose))
        print(f"  repetition {rep + 1}/{repetitions} done in {time.perf_counter() - started:.0f} s", flush=True)
    return results, durations


def fmt_ratio(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def report(
    rows: list[Row], groups: list[list[Target]], results: dict[str, list[Result]], durations: dict[str, int]
) -> None:
    targets = {t.key: t for group in groups for t in group}
    median = statistics.median
    me = [r for key, runs in results.items() if key.startswith("me/") for r in runs]
    print(f"\nbaseline GET /api/v1/me: p50 {median(r.p50_ms for r in me):.1f} ms, "
          f"{median(r.rps for r in me):.0f} req/s (median of {len(me)} runs)\n")
    header = (f"{'what':<48} {'ratio min / median / max':>26} {'target':>8} {'met':>4}  "
              f"{'p50 ms':>15}  {'req/s':>13}  bytes")
    print(header)
    print("-" * len(header))
    for row in rows:
        num, den = results[row.key], results[row.ref]  # same repetitions, in order: pair by index
        ratios = [a.p50_ms / b.p50_ms for a, b in zip(num, den, strict=True) if a.requests and b.requests]
        if not ratios:  # every run ended before a request completed: nothing to compare
            print(f"{row.label:<48} {'n/a (no request completed: raise --duration)':>26}")
            continue
        met = median(ratios) <= row.target
        big, small = targets[row.key], targets[row.ref]
        p50 = f"{median(r.p50_ms for r in num):.1f} vs {median(r.p50_ms for r in den):.1f}"
        rps = f"{median(r.rps for r in num):.0f} vs {median(r.rps for r in den):.0f}"
        size = f"{big.size:,}" if row.ref.startswith("me/") else f"{big.size:,} vs {small.size:,}"
        if row.size_class:
            factor = big.size / small.size
            size += f" ({factor:.1f}x: size class {'same' if factor <= SIZE_CLASS_FACTOR else 'NOT same'})"
            met = met and factor <= SIZE_CLASS_FACTOR
        print(f"{row.label:<48} {fmt_ratio(ratios):>26} {'<= ' + str(row.target):>8} {'yes' if met else 'NO':>4}  "
              f"{p50:>15}  {rps:>13}  {size}")
    print("\nratio: p50 latency of the first over the second (on the ratio's right: /api/v1/me, page 1, or the "
          "small organization), each pair measured back to back in the same repetition; 'met' judges the median.")
    if durations:
        print(f"measured longer than --duration to get {MIN_REQUESTS} answers: "
              + "; ".join(f"{targets[key].label} {seconds} s" for key, seconds in durations.items()))
    print("paths: " + "; ".join(f"{t.label} = {t.path}" for t in targets.values() if not t.key.startswith("me/")))
    from bench.common import load_note, readme_row, verdict  # late: ROOT is on the path from setup on

    figures = []
    for row in rows:
        num, den = results[row.key], results[row.ref]
        ratios = [a.p50_ms / b.p50_ms for a, b in zip(num, den, strict=True) if a.requests and b.requests]
        if not ratios:
            figures.append(f"{row.label} n/a")
            continue
        figure = f"{row.label} {fmt_ratio(ratios)} ({verdict(ratios, at_most=row.target)}"
        if row.size_class:
            big, small = targets[row.key], targets[row.ref]
            figure += f"; {big.size:,} vs {small.size:,} bytes"
        figures.append(figure + ")")
    readme_row(
        "bench/http_load.py",
        "p50 latency under gunicorn (4 workers, DEBUG off, PostgreSQL), wrk with 16 clients, each row paired with "
        "`/api/v1/me` (or page 1, or the small organization) in the same repetition, "
        f"{len(next(iter(results.values())))} repetitions",
        "; ".join(figures) + f"; {load_note()}",
    )


# --- main ------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per URL per repetition")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of untimed load per URL first")
    parser.add_argument("--connections", type=int, default=10_000, help="connections (and audit events) in 'bench'")
    parser.add_argument("--verbose", action="store_true", help="print every wrk run as it ends")
    parser.add_argument("--keep-db", action="store_true", help="leave the database (and print its URL)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (300 rows, 10 vs 50), 2 s runs, 1 repetition: checks the bench runs")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    total_started = time.perf_counter()
    if shutil.which("wrk") is None:
        print("http_load: Debian's `wrk` is not installed: apt-get install wrk (or `make wrk`)", file=sys.stderr)
        return 2
    if args.quick:
        sizes = Sizes(connections=300, audit_events=300, small=10, large=50, deep_page=4)
        args.repetitions, args.duration, args.warmup = 1, 2, 1
    else:
        sizes = Sizes(connections=args.connections, audit_events=args.connections, small=10, large=1000,
                      deep_page=40)
    try:
        db_url, db_name = bench_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
        check_cache(os.environ.get("BENCH_CACHE_URL", DEFAULT_CACHE_URL))
    except BenchError as exc:
        print(f"http_load: {exc}", file=sys.stderr)
        return 2
    env = production_environment(db_url)
    os.environ.update(env)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below on `kill` too
    workdir = Path(tempfile.mkdtemp(prefix="http_load-"))
    created = False
    try:
        create_database(db_url, db_name)
        created = True
        setup_django()
        print(f"seeding {db_name}: {sizes.connections:,} connections, {sizes.audit_events:,} audit events, "
              f"organizations of {sizes.small} and {sizes.large:,} ...", flush=True)
        seeded = seed(sizes)
        print(f"seeded in {seeded.seconds:.0f} s", flush=True)
        from django.db import connections

        connections.close_all()  # gunicorn's workers open their own
        script = workdir / "count.lua"
        script.write_text(WRK_SCRIPT)
        with gunicorn(env, workdir / "gunicorn.log") as base_url:
            bench = Bench(base_url=base_url, token=seeded.token, session=seeded.session, script=script,
                          duration=args.duration)
            groups, rows = targets_and_rows(bench, seeded, sizes)
            check_answers(bench, groups)
            print(f"gunicorn {WORKERS} workers (DEBUG off) on {base_url}, PostgreSQL; wrk {CLIENTS} connections "
                  f"x {args.duration} s per URL, {args.repetitions} repetitions", flush=True)
            results, durations = measure(bench, groups, args.repetitions, args.warmup, args.verbose)
        report(rows, groups, results, durations)
        print(f"\ntotal run time {time.perf_counter() - total_started:.0f} s "
              f"(seeding {seeded.seconds:.0f} s)")
        if bench.failures:
            print(f"http_load: FAILED requests in {len(bench.failures)} runs: " + "; ".join(bench.failures),
                  file=sys.stderr)
            return 1
        return 0
    except BenchError as exc:
        print(f"http_load: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, SystemExit):
        print("http_load: interrupted; stopping gunicorn and dropping the database", file=sys.stderr)
        raise
    finally:
        if created:
            with suppress(Exception):
                from django.db import connections

                connections.close_all()
            if args.keep_db:
                print(f"kept database {db_name} ({db_url.split('@')[-1]})")
            else:
                drop_database(db_url, db_name)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
