"""Demo data: organization `acme` (enterprise) with three environments and one user per role.

Safe to run twice: existing rows are kept, passwords are reset to the given (or a new) one. Apps above
accounts add their own demo data through an optional `seed_demo(org, admin, stdout)` method on their
AppConfig (FinOps: a demo cloud connection and a few months of costs), called after the accounts part
commits, so this command imports no app above it.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import services
from accounts.choices import PlanChoices, RoleChoices
from accounts.models import Environment, Membership, Organization, User

ENVIRONMENTS = [("development", "Development"), ("staging", "Staging"), ("production", "Production")]
ROLES = [RoleChoices.VIEWER, RoleChoices.USER, RoleChoices.PROVISIONER, RoleChoices.ADMIN]


class Command(BaseCommand):
    help = "Create the demo organization 'acme' with environments and one user per role (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--password", help="Password for the demo users (default: a generated one, printed).")

    def handle(self, *args: Any, **options: Any) -> None:
        password = options.get("password") or secrets.token_urlsafe(12)
        org, admin = self._seed_accounts(password)
        for config in apps.get_app_configs():
            hook = getattr(config, "seed_demo", None)
            if callable(hook):
                hook(org, admin, self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo organization 'acme' is ready."))
        self.stdout.write("Log in at http://127.0.0.1:8000/login/ as any of:")
        for role in ROLES:
            self.stdout.write(f"  {role:<12} {role}@acme.test")
        self.stdout.write(f"Password: {password}")

    @transaction.atomic
    def _seed_accounts(self, password: str) -> tuple[Organization, User]:
        users = {}
        for role in ROLES:
            user, _ = User.objects.get_or_create(email=f"{role}@acme.test")
            user.set_password(password)
            user.full_name = f"Demo {role.title()}"
            user.is_staff = role == RoleChoices.ADMIN
            user.save()
            users[role] = user
        org = Organization.objects.filter(slug="acme").first()
        if org is None:
            org = services.do_create_organization(
                slug="acme", name="Acme Corp", plan=PlanChoices.ENTERPRISE, acting_user=users[RoleChoices.ADMIN]
            )
        admin = users[RoleChoices.ADMIN]
        if org.plan != PlanChoices.ENTERPRISE:
            services.do_update_organization(org, actor=admin, plan=PlanChoices.ENTERPRISE)
        for role, user in users.items():
            membership = Membership.objects.filter(org=org, user=user).first()
            if membership is None:
                services.do_add_member(org, actor=admin, email=user.email, role=role)
            elif membership.role != role:
                services.do_change_member_role(membership, actor=admin, role=role)
        for slug, name in ENVIRONMENTS:
            if not Environment.objects.filter(org=org, slug=slug).exists():
                services.do_create_environment(org, actor=admin, slug=slug, name=name)
        return org, admin
