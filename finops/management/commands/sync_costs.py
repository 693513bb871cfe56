"""`manage.py sync_costs`: sync (or backfill) costs now, as the platform, from a shell or a cron job.

    manage.py sync_costs --org acme                       # every cloud connection, incremental
    manage.py sync_costs --org acme --connection aws-prod --start 2026-01-01 --end 2026-03-31

The same service as the daily beat and the page (`services.do_request_sync`): audited, one job per
connection, a failed job keeps every stored row.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.actors import SYSTEM
from accounts.models import Organization

from ... import services


class Command(BaseCommand):
    help = "Sync an organization's cloud costs now (incremental, or a backfill of --start..--end)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("--connection", help="One connection's name (default: every cloud connection).")
        parser.add_argument("--start", help="Backfill from this day (YYYY-MM-DD).")
        parser.add_argument("--end", help="Backfill through this day (default: today).")

    def handle(self, *args: Any, **options: Any) -> None:
        org = Organization.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"No organization {options['org']!r}.")
        connections = services.syncable_connections().filter(org=org).order_by("name")
        if options.get("connection"):
            connections = org.connections.filter(name=options["connection"])
            if not connections.exists():
                raise CommandError(f"No connection {options['connection']!r} in {org.slug}.")
        failed = 0
        for connection in connections:
            backfill = options.get("start") or options.get("end")
            try:
                job = services.do_request_sync(
                    connection, actor=SYSTEM,
                    **({"start": options.get("start"), "end": options.get("end") or services.today()}
                       if backfill else {}),
                )  # fmt: skip
            except ValidationError as exc:
                raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
            failed += job.status == "failed"
            detail = f" {job.error}" if job.error else ""
            self.stdout.write(f"{connection.name}: {job.status}, {job.rows_written} rows "
                              f"({job.range_start}..{job.range_end}).{detail}")  # fmt: skip
        if failed:
            raise CommandError(f"{failed} sync(s) failed.")
