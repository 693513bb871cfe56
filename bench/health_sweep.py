"""Benchmark: the health sweep over 2,000 AWS connections against moto, through Celery with
concurrency 16 versus one after the other, in the same run. Prints both and the ratio.

Not a test. Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/14; the db is flushed) and uses
PostgreSQL when DATABASE_URL is set (recommended: SQLite serializes every write), SQLite otherwise.
moto runs as its own server process; the worker is a real `celery worker` process (prefork, -c 16).

    python bench/health_sweep.py [--connections 2000] [--concurrency 16] [--latency-ms 0]

`--latency-ms N` puts a delaying proxy in front of moto, so each AWS call takes N ms more, as a
real provider's API does across the internet (tens to hundreds of ms). moto on loopback answers in
about 2 ms, which makes a check CPU-bound; on a 2-CPU machine that caps any speed-up near 2x.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


def start_delay_proxy(target_port: int, latency_ms: float) -> int:
    """A threaded HTTP proxy on loopback that waits `latency_ms` before forwarding each request."""
    import http.client
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            time.sleep(latency_ms / 1000)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            upstream = http.client.HTTPConnection("127.0.0.1", target_port, timeout=30)
            upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
            reply = upstream.getresponse()
            payload = reply.read()
            self.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            upstream.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def database_url(settings_dict: dict) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user, password = settings_dict.get("USER") or "", settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host, port = settings_dict.get("HOST") or "127.0.0.1", settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--chunk-size", type=int, default=25)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every AWS call (default 0)")
    args = parser.parse_args()

    moto_port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(moto_port)
    endpoint_port = start_delay_proxy(moto_port, args.latency_ms) if args.latency_ms else moto_port
    aws_env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{endpoint_port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(aws_env)
    worker = None
    try:
        wait_for_port(moto_port)
        import django

        django.setup()
        import redis
        from django.conf import settings
        from django.db import connection
        from django.test.utils import setup_test_environment

        from accounts.models import Membership, Organization, User
        from connections.models import Connection
        from connections.secrets import secret_context
        from connections.verification import run_check
        from core import crypto

        redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
        redis.Redis.from_url(redis_url).flushdb()
        setup_test_environment()
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            org = Organization.objects.create(slug="bench", name="Bench", plan="enterprise")
            admin = User.objects.create_user("admin@bench.test", "bench-password-1")
            Membership.objects.create(user=admin, org=org, role="admin")
            ring = crypto.KeyRing.from_settings()
            rows = []
            for i in range(args.connections):
                conn = Connection(
                    org=org,
                    name=f"aws-{i:05d}",
                    provider="aws",
                    category="cloud",
                    auth_method="access_key",
                    config={
                        "account_id": "123456789012",
                        "region": "us-east-1",
                        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                    },
                )
                secret = {"secret_access_key": f"{i:040d}"}
                conn.secrets_envelope = crypto.encrypt_json(secret, context=secret_context(conn), ring=ring)
                conn.secrets_key_id = ring.primary.kid
                conn.secret_fingerprints = {"secret_access_key": crypto.fingerprint(secret["secret_access_key"])}
                rows.append(conn)
            Connection.objects.bulk_create(rows, batch_size=500)
            connection.close()

            # Sequential baseline: one process, one connection after the other.
            started = time.perf_counter()
            for conn in Connection.objects.select_related("org").order_by("name").iterator(chunk_size=200):
                run_check(conn)
            sequential = time.perf_counter() - started
            healthy = Connection.objects.filter(health_status="healthy").count()
            Connection.objects.update(last_checked_at=None)

            # Celery: a real worker process with the given concurrency; the sweep fans out chunks.
            worker_env = {
                **os.environ,
                **aws_env,
                "DATABASE_URL": database_url(settings.DATABASES["default"]),
                "CELERY_BROKER_URL": redis_url,
                "CONNECTIONS_KEYS": settings.CONNECTIONS_KEYS,
                "SECRET_KEY": settings.SECRET_KEY,
                "LOG_LEVEL": "WARNING",
            }
            connection.close()
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-P",
                    os.environ.get("BENCH_POOL", "prefork"),
                    "-c",
                    str(args.concurrency),
                    "--loglevel",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=ROOT,
                env=worker_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            from config.celery import app

            app.conf.update(broker_url=redis_url, task_always_eager=False)
            time.sleep(3)  # let the worker's pool start before the clock does
            started = time.perf_counter()
            app.send_task("connections.tasks.health_sweep", kwargs={"chunk_size": args.chunk_size})
            deadline = time.monotonic() + max(600.0, sequential * 3)
            while Connection.objects.filter(last_checked_at__isnull=True).exists():
                if time.monotonic() > deadline:
                    raise SystemExit("the sweep did not finish in time")
                time.sleep(0.05)
            parallel = time.perf_counter() - started
            healthy_parallel = Connection.objects.filter(health_status="healthy").count()
        finally:
            connection.close()
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=60)
            connection.creation.destroy_test_db(old_name, verbosity=0)
    finally:
        moto.terminate()
        moto.wait(timeout=30)

    n = args.connections
    latency = f", +{args.latency_ms:g} ms per AWS call" if args.latency_ms else ""
    print(
        f"database: {connection.vendor}; {n} AWS connections against moto (server process{latency}); "
        f"{os.cpu_count()} CPUs"
    )
    print(f"sequential:                 {sequential:7.1f} s  ({n / sequential:6.1f} checks/s, {healthy} healthy)")
    print(
        f"celery, concurrency {args.concurrency:<3}:    {parallel:7.1f} s  ({n / parallel:6.1f} checks/s, "
        f"{healthy_parallel} healthy)"
    )
    print(f"speed-up:                   {sequential / parallel:7.2f}x  (target >= 8x)")


if __name__ == "__main__":
    main()
