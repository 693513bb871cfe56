"""Rotate the OIDC signing key, or (``--rewrap``) re-wrap stored private keys after a key-ring rotation.

Both are separate on purpose: re-wrapping after a CONNECTIONS_KEYS change must not publish a new kid to
every cloud, and rotating the signing key does not need a new key ring. ``--prune`` only retires keys
whose overlap has passed (for a periodic job); a rotation does that too.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core import crypto
from identity import keys


class Command(BaseCommand):
    help = "Rotate the OIDC signing key (--rewrap: re-wrap private keys to the key ring's primary; --prune)."

    def add_arguments(self, parser: Any) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--rewrap", action="store_true", help="Re-wrap private keys to the primary of CONNECTIONS_KEYS only."
        )
        group.add_argument("--prune", action="store_true", help="Only retire keys whose overlap has passed.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rewrap"]:
            self._rewrap()
        elif options["prune"]:
            retired = keys.prune_signing_keys()
            self.stdout.write(f"Retired {len(retired)} signing key(s): {', '.join(retired) or '-'}.")
        else:
            key = keys.do_rotate_signing_key()
            self.stdout.write(f"Rotated the OIDC signing key: {key.kid} is active.")

    def _rewrap(self) -> None:
        try:
            result = keys.rewrap_signing_keys()
        except crypto.KeyRingError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Re-wrapped {len(result.rewrapped)} signing key(s) to key '{result.primary_kid}'.")
        for kid, message in result.failed.items():
            self.stderr.write(f"{kid}: {message}")
        if result.failed:
            raise CommandError(f"{len(result.failed)} signing key(s) could not be re-wrapped; see above.")
