"""Re-wrap every VPN's pre-shared keys to the primary key of CONNECTIONS_KEYS (after rotate_connection_keys,
before the old key leaves the ring). One short transaction per VPN; resumable; `--check` only counts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from core import crypto
from vpn.models import VpnConnection
from vpn.provisioning import do_rewrap_vpn_psks


class Command(BaseCommand):
    help = "Re-wrap VPN pre-shared keys to the primary key of CONNECTIONS_KEYS (resumable; --check to count)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--check", action="store_true", help="Only print how many VPNs each key id wraps.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ring = crypto.KeyRing.from_settings()
        except crypto.KeyRingError as exc:
            raise CommandError(str(exc)) from None
        if not options["check"]:
            pending = VpnConnection.objects.exclude(psk_envelope="").exclude(psk_key_id=ring.primary.kid)
            done = failed = 0
            for pk in pending.order_by("pk").values_list("pk", flat=True).iterator():
                try:
                    done += do_rewrap_vpn_psks(pk, ring=ring)
                except crypto.CryptoError as exc:
                    failed += 1
                    self.stderr.write(str(exc))
            self.stdout.write(f"Re-wrapped the keys of {done} VPN(s) to key '{ring.primary.kid}'.")
            if failed:
                raise CommandError(f"{failed} VPN(s) could not be re-wrapped; see the messages above.")
        counts = VpnConnection.objects.exclude(psk_envelope="").values("psk_key_id").annotate(n=Count("pk"))
        self.stdout.write(f"Primary key: {ring.primary.kid}")
        for row in counts.order_by("psk_key_id"):
            kid = row["psk_key_id"]
            note = "primary" if kid == ring.primary.kid else ("in ring" if kid in ring else "NOT IN RING")
            self.stdout.write(f"  {kid}: {row['n']} ({note})")
