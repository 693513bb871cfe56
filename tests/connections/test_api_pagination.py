"""The connections and audit lists walked page by page (keyset pagination, core/api/pagination.py).

Every `ordering` the connections list offers, with many equal values (provider, created_at) and NULLs
(never-used connections' `last_used_at`): following `next` gives every connection exactly once, in the order
of one whole page, NULLs last in both directions; following `previous` back gives them in reverse.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.audit import record_event
from accounts.choices import AuditAction
from accounts.policy import clear_role_cache
from connections.models import Connection
from tests.pagination import walk

pytestmark = pytest.mark.django_db

BASE = "/api/v1/orgs/acme/connections/"
AUDIT = "/api/v1/orgs/acme/audit/"
ORDERINGS = ["name", "-name", "provider", "-provider", "created_at", "-created_at", "last_used_at", "-last_used_at"]




def last_page(client: APIClient, url: str) -> str:
    while (page := client.get(url).json())["next"]:
        url = page["next"]
    return url


@pytest.fixture
def crowded(org, members) -> list[Connection]:
    """31 connections: four providers, three creation instants, last_used_at NULL for a third and equal
    for many of the others."""
    same = timezone.now().replace(microsecond=0)
    kinds = [("github", "git", "pat"), ("gitlab", "git", "pat"), ("aws", "cloud", "access_key"),
             ("digitalocean", "cloud", "api_token")]  # fmt: skip
    rows = []
    for i in range(31):
        provider, category, method = kinds[i % 4]
        last_used = None if i % 3 == 0 else same - timedelta(hours=i % 2)
        rows.append(
            Connection(org=org, name=f"c-{(i * 7) % 31:02d}", provider=provider, category=category,
                       auth_method=method, last_used_at=last_used, created_by=members["admin"])
        )
    Connection.objects.bulk_create(rows)
    Connection.objects.filter(org=org).update(created_at=same)
    Connection.objects.filter(org=org, name__lt="c-10").update(created_at=same - timedelta(days=1))
    return rows


def expected(ordering: str) -> list[str]:
    """The order one whole page gives: the field (NULLs last either way), then the name."""
    field = ordering.lstrip("-")
    rows = list(Connection.objects.filter(org__slug="acme").values("name", field))
    present = sorted((r for r in rows if r[field] is not None), key=lambda r: r["name"])
    present.sort(key=lambda r: r[field], reverse=ordering.startswith("-"))
    absent = sorted((r for r in rows if r[field] is None), key=lambda r: r["name"])
    return [r["name"] for r in present + absent]


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_every_ordering_walks_every_connection_once(api_as, crowded, ordering):
    client = api_as("viewer")
    whole = [c["name"] for c in client.get(f"{BASE}?ordering={ordering}&page_size=500").json()["results"]]
    assert whole == expected(ordering)
    for size in (1, 4, 5):
        forwards = [c["name"] for c in walk(client, f"{BASE}?ordering={ordering}&page_size={size}")]
        assert forwards == whole, size
        backwards = [c["name"] for c in walk(client, last_page(client, f"{BASE}?ordering={ordering}&page_size={size}"),
                                             link="previous")]  # fmt: skip
        assert backwards == list(reversed(whole)), size


def test_filters_and_ordering_together(api_as, crowded):
    client = api_as("viewer")
    forwards = [c["name"] for c in walk(client, f"{BASE}?provider=github&ordering=-last_used_at&page_size=2")]
    assert forwards == [name for name in expected("-last_used_at") if name in set(forwards)]
    assert len(forwards) == Connection.objects.filter(provider="github").count() == 8


def test_a_connection_used_while_walking_is_not_repeated(api_as, crowded):
    """Ordered by last use, a connection used after it was listed moves to the front: not seen twice."""
    client = api_as("viewer")
    first = client.get(f"{BASE}?ordering=-last_used_at&page_size=10").json()
    later = expected("-last_used_at")[20]
    Connection.objects.filter(name=later).update(last_used_at=timezone.now() + timedelta(hours=1))
    seen = [c["name"] for c in first["results"]] + [c["name"] for c in walk(client, first["next"])]
    assert len(seen) == len(set(seen)) == 30 and later not in seen


@pytest.mark.parametrize("rows", [10, 1000])
def test_deep_pages_cost_the_same_queries(api_as, org, members, rows, django_assert_max_num_queries):
    admin = members["admin"]
    Connection.objects.bulk_create(
        Connection(org=org, name=f"gh-{i:04d}", provider="github", category="git", auth_method="pat",
                   created_by=admin, last_used_at=None if i % 2 else timezone.now())
        for i in range(rows)
    )  # fmt: skip
    client = api_as("viewer")
    url = f"{BASE}?ordering=-last_used_at&page_size=3"
    for _ in range(2):
        url = client.get(url).json()["next"]
    clear_role_cache(members["viewer"])
    # The org, the role, guardian's two lookups in .restrict(), the page, its authorizations: no count.
    with django_assert_max_num_queries(6):
        assert len(client.get(url).json()["results"]) == 3


def test_audit_walks_every_event_once(api_as, org, members):
    for i in range(23):
        record_event(org=org, actor=members["admin"], action=AuditAction.CONNECTION_TESTED, target_repr=f"t-{i}")
    client = api_as("admin")
    whole = [e["seq"] for e in client.get(f"{AUDIT}?page_size=500").json()["results"]]
    assert whole == sorted(whole, reverse=True) and len(whole) >= 23
    assert [e["seq"] for e in walk(client, f"{AUDIT}?page_size=4")] == whole
    by_time = [e["seq"] for e in client.get(f"{AUDIT}?ordering=created_at&page_size=500").json()["results"]]
    assert [e["seq"] for e in walk(client, f"{AUDIT}?ordering=created_at&page_size=3")] == by_time


@pytest.mark.parametrize("rows", [10, 1000])
def test_audit_page_queries_do_not_grow(api_as, org, members, rows):
    from accounts.models import AuditEvent

    now = timezone.now()
    start = AuditEvent.objects.filter(org=org).count()
    AuditEvent.objects.bulk_create(
        AuditEvent(org=org, seq=start + i + 1, created_at=now, actor_type="system", actor_label="bench",
                   action="connection.tested", prev_hash=f"{i:064x}", hash=f"{i + 10**6:064x}")
        for i in range(rows)
    )  # fmt: skip
    client = api_as("admin")
    url = client.get(f"{AUDIT}?page_size=5").json()["next"]
    clear_role_cache(members["admin"])
    with CaptureQueriesContext(db_connection) as queries:
        assert len(client.get(url).json()["results"]) == 5
    assert len(queries) <= 5  # the org, the role, guardian's two lookups, the page: no count
