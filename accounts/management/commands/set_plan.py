"""Set an organization's plan: the billing hook (a billing system or an operator runs it).

Acts as the platform (audited as "system"); a downgrade the organization does not fit is refused with
each reason, and the command exits non-zero.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.actors import SYSTEM
from accounts.choices import PlanChoices
from accounts.models import Organization


class Command(BaseCommand):
    help = "Change an organization's plan (billing). Refuses a downgrade while the organization exceeds it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("org_slug")
        parser.add_argument("plan", choices=PlanChoices.values)

    def handle(self, *args: Any, org_slug: str, plan: str, **options: Any) -> None:
        org = Organization.objects.filter(slug=org_slug).first()
        if org is None:
            raise CommandError(f"No organization '{org_slug}'.")
        old = org.plan
        try:
            org = services.do_change_plan(org, plan=plan, actor=SYSTEM)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if old == org.plan:
            self.stdout.write(f"'{org.slug}' is already on the {org.get_plan_display()} plan.")
        else:
            self.stdout.write(self.style.SUCCESS(f"'{org.slug}': {old} -> {org.plan}."))
