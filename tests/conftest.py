"""Shared fixtures: an organization with the four roles, another organization, API and page clients."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import redis
from django.test import Client
from rest_framework.test import APIClient

from accounts.choices import PlanChoices, RoleChoices
from accounts.models import Environment, Membership, Organization, User
from tests.permissions import ROLES

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- login hardening: login limits and API throttles live in the cache; every test starts with none counted
@pytest.fixture(autouse=True)
def _empty_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


# --- end login hardening


def make_org(slug: str, plan: str = PlanChoices.ENTERPRISE) -> Organization:
    org = Organization.objects.create(slug=slug, name=slug.title(), plan=plan)
    for env in ("development", "staging", "production"):
        Environment.objects.create(org=org, slug=env, name=env.title())
    return org


def make_member(org: Organization, role: str, email: str | None = None) -> User:
    user = User.objects.create_user(email=email or f"{role}@{org.slug}.test", password=PASSWORD)
    Membership.objects.create(user=user, org=org, role=role)
    return user


@pytest.fixture
def org(db) -> Organization:
    return make_org("acme")


@pytest.fixture
def members(org) -> dict[str, User]:
    return {role: make_member(org, role) for role in ROLES}


@pytest.fixture
def other_org(db) -> Organization:
    org = make_org("globex")
    make_member(org, RoleChoices.ADMIN)
    return org


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def api_as(members) -> Callable[[str], APIClient]:
    """An API client logged in (session) as the member with the given role."""

    def make(role: str) -> APIClient:
        client = APIClient()
        client.force_authenticate(user=members[role])
        return client

    return make


@pytest.fixture
def client_as(members) -> Callable[[str], Client]:
    """A page client signed in (session) as the acme member with the given role.

    `force_login` skips the authentication backends: django-axes needs a request to authenticate,
    and the login form itself is tested separately.
    """

    def make(role: str) -> Client:
        client = Client()
        client.force_login(members[role])
        return client

    return make


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis the suite runs against (REDIS_URL, default 127.0.0.1:6379 db 15). Never skipped:
    a missing Redis is a broken test environment, and .ci/run starts one."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    return url


from tests.connections.conftest import make_connection  # noqa: E402, F401 - shared fixture (the admin tests use it)
