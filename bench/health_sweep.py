"""Benchmark: what a connection health check costs, and how the sweep scales on a Celery worker.

Not a test. Two parts, each printed as min / median / max over repetitions, with a same-run baseline:

(a) CPU per check: `time.process_time()` of this (the checking) process, per connection, while it
    checks AWS connections against moto running as its own server process on loopback (no added
    latency). Two paths: the sweep's chunk task (`check_connections_chunk`, run in this process) and
    a single check (`run_check`: the Test button). Every repetition checks connections this process
    has not checked before, so no per-connection cache can flatter the figure. Baseline: a bare boto3
    STS GetCallerIdentity on one reused client, the floor of any AWS check. Target: <= 8 ms a check.

(b) The sweep: N checks (default 2,000) through `health_sweep` on a real `celery worker` process
    (prefork, -c 16) versus the same chunk task run one chunk after the other in this process, with
    every AWS call delayed by --latency-ms (default 100, a real provider's API across the internet)
    by a proxy process in front of moto. Speed-up = sequential / Celery, per repetition. Target >= 8x.
    Sequential at 100 ms is ~N x 0.1 s (about 3.5 minutes for 2,000) per repetition: the whole run
    with 3 repetitions takes about 12-13 minutes on a 2-CPU machine.

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/14; that db is flushed) and uses PostgreSQL
when DATABASE_URL is set (recommended: SQLite serializes every write), SQLite otherwise. The load
average is printed with the figures: the machines are shared.

    python bench/health_sweep.py [--connections 2000] [--concurrency 16] [--latency-ms 100]
                                 [--repetitions 3] [--skip-sweep] [--skip-cpu]

`BENCH_ROOT=/path/to/checkout` measures another checkout's code with this script (the same tasks
exist there), e.g. the main branch for a before/after comparison.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_ROOT") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def run_delay_proxy(listen_port: int, target_port: int, latency_ms: float) -> None:
    """A threaded HTTP proxy (its own process, so its CPU never counts as the checker's) that waits
    `latency_ms` before forwarding each request, keeping one upstream connection per thread."""
    import http.client
    import http.server
    import threading

    local = threading.local()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            time.sleep(latency_ms / 1000)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            upstream = getattr(local, "upstream", None)
            if upstream is None:
                upstream = local.upstream = http.client.HTTPConnection("127.0.0.1", target_port, timeout=30)
            try:
                upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
                reply = upstream.getresponse()
                payload = reply.read()
            except (OSError, http.client.HTTPException):
                upstream.close()
                local.upstream = None
                raise
            self.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", listen_port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def database_url(settings_dict: dict) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user, password = settings_dict.get("USER") or "", settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host, port = settings_dict.get("HOST") or "127.0.0.1", settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def make_connections(n: int, prefix: str) -> None:
    from accounts.models import Organization
    from connections.models import Connection
    from connections.secrets import secret_context
    from core import crypto

    org = Organization.objects.get(slug="bench")
    ring = crypto.KeyRing.from_settings()
    rows = []
    for i in range(n):
        conn = Connection(
            org=org, name=f"{prefix}-{i:05d}", provider="aws", category="cloud", auth_method="access_key",
            config={"account_id": "123456789012", "region": "us-east-1", "access_key_id": f"AKIA{i:016d}"},
        )
        secret = {"secret_access_key": f"{prefix}{i:036d}"[-40:]}
        conn.secrets_envelope = crypto.encrypt_json(secret, context=secret_context(conn), ring=ring)
        conn.secrets_key_id = ring.primary.kid
        conn.secret_fingerprints = {"secret_access_key": crypto.fingerprint(secret["secret_access_key"])}
        rows.append(conn)
    Connection.objects.bulk_create(rows, batch_size=500)


def ids_of(prefix: str) -> list[str]:
    from connections.models import Connection

    return [str(pk) for pk in Connection.objects.filter(name__startswith=f"{prefix}-").order_by("pk")
            .values_list("pk", flat=True)]


def chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def cpu_part(args: argparse.Namespace) -> None:
    """(a): CPU per check, chunked and single, against the bare boto3 call, in this process."""
    import boto3
    from botocore.config import Config

    from connections.models import Connection
    from connections.tasks import check_connections_chunk
    from connections.verification import run_check

    per_rep = args.cpu_checks
    make_connections(per_rep * args.repetitions * 2 + 20, "cpu")
    ids = ids_of("cpu")
    warm, ids = ids[:20], ids[20:]
    check_connections_chunk(warm)  # imports, the first client, the first queries: not a check's cost
    sts = boto3.session.Session().client(
        "sts", region_name="us-east-1", config=Config(retries={"max_attempts": 2}),
        aws_access_key_id="AKIABASELINE00000000", aws_secret_access_key="b" * 40,
    )
    sts.get_caller_identity()
    chunked, single, bare = [], [], []
    for rep in range(args.repetitions):
        started = time.process_time()
        for _ in range(per_rep):
            sts.get_caller_identity()
        bare.append((time.process_time() - started) * 1000 / per_rep)
        mine = ids[rep * per_rep * 2:(rep + 1) * per_rep * 2]
        started = time.process_time()
        for part in chunks(mine[:per_rep], args.chunk_size):
            check_connections_chunk(part)
        chunked.append((time.process_time() - started) * 1000 / per_rep)
        alone = list(Connection.objects.select_related("org").filter(pk__in=mine[per_rep:]))
        started = time.process_time()
        for conn in alone:
            run_check(conn)
        single.append((time.process_time() - started) * 1000 / len(alone))
    print(f"(a) CPU per check, {args.repetitions} repetitions of {per_rep} connections never checked before by this "
          f"process, moto on loopback in another process; min / median / max ({load()})")
    print(f"    bare boto3 STS call, reused client (baseline): {spread(bare)} ms")
    print(f"    sweep chunk of {args.chunk_size} (check_connections_chunk):   {spread(chunked)} ms a check   "
          f"(target <= 8 ms); ratio to baseline {spread([c / b for c, b in zip(chunked, bare, strict=True)])}")
    print(f"    single check (run_check, the Test button):   {spread(single)} ms a check   "
          f"ratio to baseline {spread([s / b for s, b in zip(single, bare, strict=True)])}")
    from bench.common import load_note, readme_row, verdict  # late: bench/ is on the path once ROOT is

    readme_row(
        "bench/health_sweep.py",
        f"CPU per AWS health check in a sweep chunk of {args.chunk_size} (moto on loopback in another process, "
        f"{args.repetitions} repetitions of {per_rep} connections)",
        f"{spread(chunked)} ms a check ({verdict(chunked, at_most=8)}), "
        f"{spread([c / b for c, b in zip(chunked, bare, strict=True)])}x a bare boto3 STS call on a reused client "
        f"({spread(bare)} ms); a single Test-button check {spread(single)} ms; {load_note()}",
    )


def sweep_part(args: argparse.Namespace, aws_env: dict[str, str], redis_url: str) -> None:
    """(b): sequential chunks in this process vs `health_sweep` on a Celery worker, per repetition."""
    from django.conf import settings
    from django.db import connection

    from config.celery import app
    from connections.models import Connection
    from connections.tasks import check_connections_chunk

    make_connections(args.connections, "sweep")
    ids = ids_of("sweep")
    sweep = Connection.objects.filter(name__startswith="sweep-")
    worker_env = {
        **os.environ, **aws_env, "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "CELERY_BROKER_URL": redis_url, "CONNECTIONS_KEYS": settings.CONNECTIONS_KEYS,
        "SECRET_KEY": settings.SECRET_KEY, "LOG_LEVEL": "WARNING",
    }
    connection.close()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", os.environ.get("BENCH_POOL", "prefork"),
         "-c", str(args.concurrency), "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=worker_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    app.conf.update(broker_url=redis_url, task_always_eager=False)
    rows = []
    try:
        time.sleep(5)  # let the worker's pool start before any clock does
        # Only the sweep's connections take part from here on (part (a)'s are left out).
        Connection.objects.exclude(name__startswith="sweep-").update(status="inactive")
        # Warm-up, not timed: one Celery sweep starts every pool process (imports, first client, first
        # queries) and takes each connection from "unknown" to its health, as in any later hour.
        app.send_task("connections.tasks.health_sweep", kwargs={"chunk_size": args.chunk_size})
        deadline = time.monotonic() + 900
        while sweep.filter(last_checked_at__isnull=True).exists():
            if time.monotonic() > deadline:
                raise SystemExit("the warm-up sweep did not finish")
            time.sleep(0.2)
        for rep in range(args.repetitions):
            sweep.update(last_checked_at=None)
            started = time.perf_counter()
            for part in chunks(ids, args.chunk_size):
                check_connections_chunk(part)
            sequential = time.perf_counter() - started
            healthy_seq = sweep.filter(health_status="healthy").count()
            sweep.update(last_checked_at=None)
            load_before = load()
            started = time.perf_counter()
            app.send_task("connections.tasks.health_sweep", kwargs={"chunk_size": args.chunk_size})
            deadline = time.monotonic() + max(600.0, sequential * 3)
            while sweep.filter(last_checked_at__isnull=True).exists():
                if time.monotonic() > deadline:
                    raise SystemExit("the sweep did not finish in time")
                time.sleep(0.05)
            parallel = time.perf_counter() - started
            healthy_par = sweep.filter(health_status="healthy").count()
            rows.append((sequential, parallel, healthy_seq, healthy_par, load_before))
            print(f"    repetition {rep + 1}: sequential {sequential:6.1f} s ({healthy_seq} healthy), celery "
                  f"{parallel:5.1f} s ({healthy_par} healthy), speed-up {sequential / parallel:5.2f}x  [{load_before}]",
                  flush=True)
    finally:
        connection.close()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
    n = args.connections
    print(f"(b) sweep of {n} AWS checks, +{args.latency_ms:g} ms per AWS call, chunks of {args.chunk_size}: "
          f"min / median / max of {args.repetitions}")
    print(f"    sequential (one process, chunk after chunk): {spread([r[0] for r in rows])} s")
    print(f"    celery prefork -c {args.concurrency}:                   {spread([r[1] for r in rows])} s")
    print(f"    speed-up:                                    {spread([r[0] / r[1] for r in rows])}x  (target >= 8x)")
    from bench.common import load_note, readme_row, verdict  # late: bench/ is on the path once ROOT is

    speedups = [r[0] / r[1] for r in rows]
    readme_row(
        "bench/health_sweep.py",
        f"health sweep of {n:,} AWS checks, +{args.latency_ms:g} ms per AWS call, Celery prefork "
        f"`-c {args.concurrency}` vs the same chunks run sequentially ({args.repetitions} repetitions)",
        f"speed-up {spread(speedups)}x ({verdict(speedups, at_least=8)}); sequential "
        f"{spread([r[0] for r in rows])} s, Celery {spread([r[1] for r in rows])} s; {load_note()}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--chunk-size", type=int, default=50, help="the HEALTH_CHECK_CHUNK_SIZE default")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="added to every AWS call in the sweep")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--cpu-checks", type=int, default=200, help="connections per CPU repetition")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()

    moto_port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    proxy = None
    try:
        wait_for_port(moto_port)
        aws_env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        }
        os.environ.update(aws_env)
        import django

        django.setup()
        import redis
        from django.db import connection
        from django.test.utils import setup_test_environment

        from accounts.models import Organization

        redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
        redis.Redis.from_url(redis_url).flushdb()
        setup_test_environment()
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        print(f"database: {connection.vendor}; {os.cpu_count()} CPUs; code: {ROOT}")
        try:
            Organization.objects.create(slug="bench", name="Bench", plan="enterprise")
            if not args.skip_cpu:
                cpu_part(args)
            if not args.skip_sweep:
                proxy_port = free_port()
                proxy = multiprocessing.get_context("fork").Process(
                    target=run_delay_proxy, args=(proxy_port, moto_port, args.latency_ms), daemon=True
                )
                connection.close()  # the proxy is forked: it must not inherit an open database connection
                proxy.start()
                wait_for_port(proxy_port)
                aws_env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{proxy_port}"
                os.environ.update(aws_env)
                from connections.providers.aws import clients

                if hasattr(clients, "clear"):
                    clients.clear()  # the endpoint moved
                sweep_part(args, aws_env, redis_url)
        finally:
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.join(10)
        moto.terminate()
        moto.wait(timeout=30)


if __name__ == "__main__":
    main()
