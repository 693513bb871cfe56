"""The fixed cost of an org-scoped API request (issue 13): with an API token, a list, a detail and the audit list
take two queries, as /api/v1/me does: the token (with its organization and the user's role there) and the rows
(with their authorized environments as one column). The shortcut gives the same answers as the queries it
replaces: 404 for another organization or a lost membership, the role as it is now."""

from __future__ import annotations

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers
from rest_framework.test import APIClient

from accounts.models import Environment, Membership
from connections.api.serializers import ConnectionSerializer, with_response_columns
from connections.models import Connection
from connections.queries import granted
from tests.accounts.conftest import issue_token, token_client
from tests.connections.conftest import create_connection

pytestmark = pytest.mark.django_db

BASE = "/api/v1/orgs/acme/connections/"


def queries(client: APIClient, path: str) -> int:
    assert client.get(path).status_code == 200  # the token's last_used_at is written on its first use only
    with CaptureQueriesContext(db_connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


@pytest.mark.parametrize("count", [3, 40])
def test_token_requests_cost_two_queries_like_me(members, org, count):
    for index in range(count):
        create_connection(org, "github", name=f"github-{index:03d}", environments=("development", "production"))
    client = token_client(issue_token(members["admin"], org))
    me = queries(client, "/api/v1/me")
    assert me == 2
    assert queries(client, BASE) == me
    assert queries(client, BASE + "github-001/") == me
    assert queries(client, "/api/v1/orgs/acme/audit/") == me
    page = client.get(BASE + "?page_size=500").json()["results"]
    assert len(page) == count and all(row["environments"] == ["development", "production"] for row in page)


def test_a_token_reaches_only_its_organization(members, org, other_org):
    admin = members["admin"]
    Membership.objects.create(user=admin, org=other_org, role="admin")
    client = token_client(issue_token(admin, org))
    assert client.get(BASE).status_code == 200
    assert client.get("/api/v1/orgs/globex/connections/").status_code == 404
    assert client.get("/api/v1/orgs/nowhere/connections/").status_code == 404


def test_a_token_whose_user_left_the_organization_finds_nothing(members, org):
    client = token_client(issue_token(members["user"], org))
    assert client.get(BASE).status_code == 200
    Membership.objects.filter(user=members["user"], org=org).delete()  # not through the service: tokens stay
    assert client.get(BASE).status_code == 404


def test_a_token_acts_with_the_role_of_now(members, org):
    client = token_client(issue_token(members["admin"], org))
    assert client.get("/api/v1/orgs/acme/audit/").status_code == 200
    Membership.objects.filter(user=members["admin"], org=org).update(role="viewer")
    assert client.get("/api/v1/orgs/acme/audit/").status_code == 403
    assert client.get(BASE).status_code == 200


def test_environments_read_with_the_row_are_what_drf_reads(members, org):
    """Names with quotes, backslashes and non-ASCII survive the JSON column, sorted by slug, and the
    separation warning (which reads the names) is the same as through the relation."""
    Environment.objects.create(org=org, slug="a-live", name='Prod "EU" \\ ✓')
    Environment.objects.create(org=org, slug="z-sandbox", name="Dév sandbox")
    create_connection(org, "github", name="github-env", environments=("z-sandbox", "a-live", "staging"))
    create_connection(org, "github", name="github-none")
    annotated = {row.name: row for row in with_response_columns(Connection.objects.filter(org=org))}
    assert granted(annotated["github-none"]) == []
    assert granted(annotated["github-env"])[0] == ("a-live", 'Prod "EU" \\ ✓')
    for name in ("github-env", "github-none"):
        row = annotated[name]
        ours = ConnectionSerializer(row).data
        plain = Connection.objects.select_related("org").get(pk=row.pk)
        theirs = serializers.ModelSerializer.to_representation(ConnectionSerializer(plain), plain)
        assert ours["environments"] == theirs["environments"]
        assert ours["separation_warning"] == theirs["separation_warning"]
    assert ConnectionSerializer(annotated["github-env"]).data["environments"] == ["a-live", "staging", "z-sandbox"]
    assert ConnectionSerializer(annotated["github-env"]).data["separation_warning"]
