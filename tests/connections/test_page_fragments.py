"""The connections page's cached fragments (cards, "Add a connection", filter fields; core/fragments.py):
a change shows at the next view whatever path made it, a warm page is the cold page, and the cache holds
nothing per viewer and no secret."""

from __future__ import annotations

import html
import pickle
import re

import pytest
from django.core.cache import caches
from django.urls import reverse

from accounts.models import Environment
from connections.models import Connection, ConnectionAuthorization, ConnectionRole
from core.fragments import CACHE_ALIAS

pytestmark = pytest.mark.django_db

CANARY = "FragmentCanaryFragmentCanary0123456789ab"
PAGE = reverse("connection_list", kwargs={"org_slug": "acme"})


@pytest.fixture(autouse=True)
def empty_cache():
    caches[CACHE_ALIAS].clear()
    yield
    caches[CACHE_ALIAS].clear()


def page(client, query: str = "") -> str:
    response = client.get(PAGE + query)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def card(body: str, name: str) -> str:
    cards = re.findall(r'<article class="connection-card".*?</article>', body, re.S)
    match = next((found for found in cards if f">{name}</a></h3>" in found), None)
    assert match, name
    return match


def cached_values() -> list[str]:
    store = caches[CACHE_ALIAS]._cache  # locmem keeps pickled values
    return [pickle.loads(value) for value in store.values()]


def test_a_card_shows_changes_that_leave_updated_at_alone(client_as, org, make_connection):
    client = client_as("viewer")
    aws = make_connection(org, "aws", name="aws-main")
    before = card(page(client), "aws-main")
    assert "Not authorized for any environment" in before and "role" not in before.split("<footer")[1]
    stamp = Connection.objects.get(pk=aws.pk).updated_at
    Connection.objects.filter(pk=aws.pk).update(health_status="unhealthy", last_check_error="AccessDenied 4711")
    ConnectionRole.objects.create(org=org, connection=aws, role_arn="arn:aws:iam::123456789012:role/deployer")
    staging = Environment.objects.get(org=org, slug="staging")
    ConnectionAuthorization.objects.create(org=org, connection=aws, environment=staging, provider="aws")
    assert Connection.objects.get(pk=aws.pk).updated_at == stamp
    after = card(page(client), "aws-main")
    assert "AccessDenied 4711" in after and "1 role" in after and '<span class="chip">staging</span>' in after
    assert "Not authorized for any environment" not in after


def test_a_warm_page_is_the_cold_page(client_as, org, make_connection):
    for provider, name in (("aws", "aws-a"), ("github", "gh-b"), ("azure", "az-c")):
        make_connection(org, provider, name=name, environments=("staging",))
    client = client_as("admin")
    cold = page(client)
    assert cached_values()  # the cards, the add section and the filter fields went in
    warm = page(client)
    caches[CACHE_ALIAS].clear()
    cold_again = page(client)

    def without_csrf(body: str) -> str:  # the logout form's token is masked anew on every render
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body)

    assert without_csrf(cold) == without_csrf(warm) == without_csrf(cold_again)


def test_the_fragments_hold_nothing_per_viewer_and_no_secret(client_as, members, org, make_connection):
    make_connection(
        org, "aws", name="aws-keys", auth_method="access_key", secrets={"secret_access_key": CANARY}
    )
    admin_page, viewer_page = page(client_as("admin")), page(client_as("viewer"))
    assert card(admin_page, "aws-keys") == card(viewer_page, "aws-keys")
    values = cached_values()
    assert values
    for value in values:
        assert CANARY not in value
        assert "csrfmiddlewaretoken" not in value
        assert not any(member.email in value for member in members.values())


def test_filter_fields_follow_the_query(client_as, org, make_connection):
    make_connection(org, "aws", name="aws-main")
    client = client_as("viewer")
    wrong = page(client, "?provider=nope")
    assert "Select a valid choice" in wrong and "Correct the filters above" in wrong
    plain = page(client)
    assert "Select a valid choice" not in plain and "aws-main" in plain
    assert 'value="first"' in page(client, "?q=first")
    second = page(client, "?q=second&provider=aws")
    assert 'value="second"' in second and 'value="first"' not in second
    assert re.search(r'<option value="aws" selected>', second)


def test_environment_shortcuts_come_with_the_organization_and_mark_the_current_one(client_as, org, members):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Environment.objects.bulk_create(Environment(org=org, slug=f"e-{i:03d}", name=f"E {i:03d}") for i in range(30))
    client = client_as("viewer")
    with CaptureQueriesContext(connection) as queries:
        body = page(client)
    assert not [q for q in queries.captured_queries if q["sql"].lstrip().startswith('SELECT "accounts_environment"')]
    expected = sorted(Environment.objects.filter(org=org).values_list("slug", flat=True))[:24]
    links = re.findall(r'<a class="chip" href="/o/acme/environments/([^/"]+)/selection/">', body)
    assert links == expected and "All environments…" in body
    selection = client.get(reverse("environment_selection", kwargs={"org_slug": "acme", "env_slug": "e-003"}))
    current = r'href="/o/acme/environments/([^/"]+)/selection/"[^>]*aria-current="page"'
    marked = re.findall(current, selection.content.decode())
    assert marked == ["e-003"]
