"""Re-wrap every connection's data key to the primary key of CONNECTIONS_KEYS.

Runs in batches with keyset pagination (constant memory), one short transaction per batch (row locks,
re-wrap in memory, one UPDATE, one audit event per organization), so it can run while the platform
serves traffic, be interrupted, and be run again: rows already on the primary key are skipped.
`--check` only prints counts per key id.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from connections.models import Connection
from connections.services import do_rewrap_connection_secrets
from core import crypto


class Command(BaseCommand):
    help = "Re-wrap connection secrets to the primary key of CONNECTIONS_KEYS (resumable; --check to count)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--check", action="store_true", help="Only print how many secrets each key id wraps.")
        parser.add_argument("--batch-size", type=int, default=500, help="Rows read per batch (default 500).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ring = crypto.KeyRing.from_settings()
        except crypto.KeyRingError as exc:
            raise CommandError(str(exc)) from None
        if options["check"]:
            self._check(ring)
            return
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        rewrapped, failed = self._rotate(ring, options["batch_size"])
        self.stdout.write(f"Re-wrapped {rewrapped} secret payload(s) to key '{ring.primary.kid}'.")
        if failed:
            raise CommandError(f"{failed} payload(s) could not be re-wrapped; see the messages above.")
        self._check(ring)

    def _check(self, ring: crypto.KeyRing) -> None:
        counts = (
            Connection.objects.exclude(secrets_envelope="")
            .values("secrets_key_id")
            .annotate(n=Count("pk"))
            .order_by("secrets_key_id")
        )
        self.stdout.write(f"Primary key: {ring.primary.kid}")
        for row in counts:
            kid = row["secrets_key_id"]
            note = "primary" if kid == ring.primary.kid else ("in ring" if kid in ring else "NOT IN RING")
            self.stdout.write(f"  {kid}: {row['n']} ({note})")

    def _rotate(self, ring: crypto.KeyRing, batch_size: int) -> tuple[int, int]:
        rewrapped = failed = 0
        last_pk = None
        pending = Connection.objects.exclude(secrets_envelope="").exclude(secrets_key_id=ring.primary.kid)
        while True:
            batch = pending.order_by("pk")
            if last_pk is not None:
                batch = batch.filter(pk__gt=last_pk)
            ids = list(batch.values_list("pk", flat=True)[:batch_size])
            if not ids:
                return rewrapped, failed
            result = do_rewrap_connection_secrets(ids, ring=ring)
            rewrapped += result.rewrapped
            failed += len(result.failed)
            for pk, message in result.failed:
                self.stderr.write(f"Connection {pk}: {message}")
            last_pk = ids[-1]
