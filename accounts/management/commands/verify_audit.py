"""Check every organization's audit hash chain; exit non-zero naming the first broken event."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.audit import verify_chains


class Command(BaseCommand):
    help = "Verify the audit trail's hash chains. Exits 1 and names the first broken event of each broken chain."

    def handle(self, *args: Any, **options: Any) -> None:
        checked, breaks = verify_chains()
        if breaks:
            for brk in breaks[1:]:
                self.stderr.write(f"Audit chain broken: {brk}")
            raise CommandError(f"Audit chain broken: {breaks[0]}", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"Audit trail intact: {checked} chain(s) verified."))
