"""Benchmark: re-wrapping every connection's data key to a new primary key (rotate_connection_keys).

Not a test: it prints figures. Uses PostgreSQL when DATABASE_URL is set (the case the target is for),
SQLite otherwise, in a throw-away test database. In one run, for each repetition:

* baseline: the same re-encryption done in memory only (no database): the ceiling for any write path;
* batch: `do_rewrap_connection_secrets` over keyset batches, exactly as the command runs it;
* per-row (reference): the previous design, one transaction per row (lock, update, audit event).

Each figure is rows per second; the ratio is batch / baseline. Target: batch >= 2,000 rows/s on
PostgreSQL, and memory flat (peak RSS does not grow with the number of rows).

    python bench/key_rewrap.py [--rows 20000] [--repeat 3] [--per-row-rows 2000]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

import psutil  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from accounts.audit import record_event  # noqa: E402
from accounts.choices import AuditAction  # noqa: E402
from accounts.models import Organization  # noqa: E402
from bench.common import load_note, readme_row, spread, verdict  # noqa: E402
from connections.models import Connection  # noqa: E402
from connections.secrets import secret_context  # noqa: E402
from connections.services import do_rewrap_connection_secrets  # noqa: E402
from core import crypto  # noqa: E402

BATCH = 500


def ring(*kids: str) -> crypto.KeyRing:
    return crypto.KeyRing.parse(",".join(f"{k}:{base64.b64encode(k.encode() * 32)[:44].decode()}" for k in kids))


def fill(org: Organization, rows: int, old: crypto.KeyRing) -> None:
    Connection.objects.filter(org=org).delete()
    batch: list[Connection] = []
    for i in range(rows):
        conn = Connection(org=org, name=f"gh-{i:06d}", provider="github", category="git", auth_method="pat",
                          config={"base_url": "https://api.github.com", "organization": "acme"})
        conn.secrets_envelope = crypto.encrypt_json({"token": f"ghp_{i:036d}"}, context=secret_context(conn), ring=old)
        conn.secrets_key_id = old.primary.kid
        batch.append(conn)
        if len(batch) == 2000:
            Connection.objects.bulk_create(batch)
            batch = []
    Connection.objects.bulk_create(batch)


def keyset(new: crypto.KeyRing):
    last = None
    pending = Connection.objects.exclude(secrets_envelope="").exclude(secrets_key_id=new.primary.kid).order_by("pk")
    while True:
        ids = list((pending.filter(pk__gt=last) if last is not None else pending).values_list("pk", flat=True)[:BATCH])
        if not ids:
            return
        yield ids
        last = ids[-1]


def run_batch(new: crypto.KeyRing) -> int:
    return sum(do_rewrap_connection_secrets(ids, ring=new).rewrapped for ids in keyset(new))


def run_per_row(new: crypto.KeyRing, limit: int) -> int:
    done = 0
    for ids in keyset(new):
        for pk in ids:
            with transaction.atomic(durable=True):
                conn = Connection.objects.select_for_update().select_related("org").get(pk=pk)
                envelope = crypto.rewrap(conn.secrets_envelope, context=secret_context(conn), ring=new)
                Connection.objects.filter(pk=pk).update(secrets_envelope=envelope, secrets_key_id=new.primary.kid)
                record_event(org=conn.org, action=AuditAction.CONNECTION_KEY_REWRAPPED, target=conn,
                             details={"new_key_id": new.primary.kid})
            done += 1
            if done >= limit:
                return done
    return done


def in_memory(new: crypto.KeyRing) -> int:
    done = 0
    for conn in Connection.objects.only("pk", "org_id", "secrets_envelope").iterator(chunk_size=2000):
        crypto.rewrap(conn.secrets_envelope, context=secret_context(conn), ring=new)
        done += 1
    return done


def rate(fn, *args) -> tuple[float, int]:
    started = time.perf_counter()
    n = fn(*args)
    return n / (time.perf_counter() - started), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-row-rows", type=int, default=2_000)
    args = parser.parse_args()
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    proc = psutil.Process()
    figures: dict[str, list[float]] = {"baseline": [], "batch": [], "per_row": [], "ratio": []}
    rss: list[tuple[int, float]] = []
    try:
        org = Organization.objects.create(slug="bench", name="Bench", plan="enterprise")
        old, new = ring("a"), ring("b", "a")
        for size in (args.rows // 4, args.rows):  # memory at two sizes: flat means no growth with rows
            fill(org, size, old)
            run_batch(new)
            rss.append((size, proc.memory_info().rss / 2**20))
        for _ in range(args.repeat):
            fill(org, args.rows, old)
            base, _ = rate(in_memory, new)
            batch, n = rate(run_batch, new)
            assert n == args.rows, n
            fill(org, args.per_row_rows, old)
            per_row, _ = rate(run_per_row, new, args.per_row_rows)
            figures["baseline"].append(base)
            figures["batch"].append(batch)
            figures["per_row"].append(per_row)
            figures["ratio"].append(batch / base)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    print(f"database: {connection.vendor}; {args.rows} rows per batch run, {args.per_row_rows} per per-row run, "
          f"{args.repeat} repetitions (min / median / max)")
    for name, unit in (("baseline", "rows/s"), ("batch", "rows/s"), ("per_row", "rows/s"), ("ratio", "x")):
        values = figures[name]
        print(f"  {name:9} {min(values):10.2f} {statistics.median(values):10.2f} {max(values):10.2f} {unit}")
    print("  peak RSS after rotating: " + ", ".join(f"{size} rows: {mb:.0f} MB" for size, mb in rss)
          + "  (target: flat)")
    print("  target: batch >= 2,000 rows/s on PostgreSQL")
    readme_row(
        "bench/key_rewrap.py",
        f"re-wrapping every connection's data key to a new primary key, {args.rows:,} rows ({connection.vendor}, "
        f"{args.repeat} repetitions)",
        f"batch path {spread(figures['batch'], '{:,.0f}')} rows/s ({verdict(figures['batch'], at_least=2000)}); "
        f"re-encryption alone in memory {spread(figures['baseline'], '{:,.0f}')} rows/s, so the batch path runs at "
        f"{spread(figures['ratio'])} of the crypto's own speed; the one-transaction-per-row path "
        f"{spread(figures['per_row'], '{:,.0f}')} rows/s; RSS "
        + ", ".join(f"{mb:.0f} MB after {size:,} rows" for size, mb in rss)
        + f" (flat); {load_note()}",
    )


if __name__ == "__main__":
    main()
