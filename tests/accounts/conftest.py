"""Fixtures for the accounts tests: Django test clients signed in as each role, API clients with a token,
and bulk rows for query-count checks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from accounts import services
from accounts.audit import record_event
from accounts.choices import RoleChoices
from accounts.models import AuditEvent, Environment, Membership, Organization, User


def token_client(token_value: str) -> APIClient:
    """An API client that authenticates with an API token (`Authorization: Bearer`)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_value}")
    return client


def issue_token(user, org, **kwargs) -> str:
    """A new API token of `user` in `org`; its value."""
    _, value = services.do_create_token(org, actor=user, name=kwargs.pop("name", "t"), **kwargs)
    return value


@pytest.fixture
def admin_client_page(client_as) -> Client:
    return client_as(RoleChoices.ADMIN)


@pytest.fixture
def add_environments(org) -> Callable[[int], None]:
    def make(count: int, target: Organization | None = None) -> None:
        target = target or org
        Environment.objects.bulk_create(
            Environment(org=target, slug=f"env-{i:04d}", name=f"Env {i}") for i in range(count)
        )

    return make


@pytest.fixture
def add_members(org) -> Callable[[int], None]:
    """`count` viewers, in bulk (a thousand members through `create_user` would hash a thousand passwords)."""

    def make(count: int) -> None:
        users = User.objects.bulk_create(
            User(email=f"bulk-{i:04d}@acme.test", full_name=f"Bulk {i}", password="!") for i in range(count)
        )
        Membership.objects.bulk_create(Membership(user=user, org=org, role=RoleChoices.VIEWER) for user in users)

    return make


@pytest.fixture
def add_audit_events(org, members) -> Callable[..., list[AuditEvent]]:
    """Append `count` chained audit events through the real writer (the chain stays valid)."""

    def make(
        count: int, *, actor: User | None = None, action: str = "environment.updated", environment: str = ""
    ) -> list:
        events = []
        with transaction.atomic():
            for i in range(count):
                events.append(
                    record_event(
                        org=org,
                        action=action,
                        actor=actor or members["admin"],
                        target_repr=f"thing-{i}",
                        environment=environment,
                        details={"n": i},
                    )
                )
        return events

    return make
