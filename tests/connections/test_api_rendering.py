"""The connections and audit responses built as dicts (ConnectionSerializer / AuditEventSerializer
`to_representation`) are exactly what DRF's walk over the declared fields gives, for every provider and
auth method, with and without the optional values (health, OAuth, authors, references, environments)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone
from rest_framework import serializers

from accounts.api.serializers import AuditEventSerializer
from accounts.models import AuditEvent
from connections.api.serializers import ConnectionSerializer
from connections.models import Connection
from tests.connections.conftest import REFERENCES, create_connection
from tests.connections.provider_examples import valid_examples

pytestmark = pytest.mark.django_db

BASE = "/api/v1/orgs/acme/connections/"


def generic(serializer: serializers.ModelSerializer, instance: object) -> dict:
    """DRF's own rendering: every declared field's get_attribute and to_representation."""
    return dict(serializers.ModelSerializer.to_representation(serializer, instance))


@pytest.fixture
def every_kind(org, members) -> list[Connection]:
    org.plan = "enterprise"
    org.save()
    made = []
    for index, (provider, methods) in enumerate(sorted(valid_examples().items())):
        for method in methods:
            name = f"{provider.replace('_', '-')}-{method.replace('_', '-')}"
            if Connection.objects.filter(org=org, name=name).exists():  # made as another's reference
                continue
            environments = [("development", "production"), ("staging",), ()][index % 3]
            made.append(create_connection(org, provider, name=name, auth_method=method, environments=environments))
    now = timezone.now()
    Connection.objects.filter(org=org, provider__in=["github", "gitlab"]).update(
        oauth_scopes=["repo", "read:org"], oauth_expires_at=now + timedelta(hours=1), last_used_at=now
    )
    Connection.objects.filter(org=org, provider="aws").update(
        health_status="unhealthy", last_checked_at=now, last_check_error="Authentication failed: no",
        last_check_duration_ms=120, credentials_rotated_at=now - timedelta(days=400), created_by=None,
    )  # fmt: skip
    assert set(REFERENCES) <= {c.provider for c in Connection.objects.filter(org=org)}
    return made


def test_connection_responses_equal_drf_field_by_field(api_as, every_kind, org):
    listed = api_as("viewer").get(BASE + "?page_size=500").json()["results"]
    request = RequestFactory().get(BASE)
    by_name = {row["name"]: row for row in listed}
    rows = Connection.objects.filter(org=org).select_related("org", "cloud_connection", "created_by", "updated_by")
    assert len(rows) == len(listed) > 20
    for connection in rows:
        expected = generic(ConnectionSerializer(context={"request": request}), connection)
        assert by_name[connection.name] == expected, connection.name
    assert any(row["separation_warning"] for row in listed) and any(row["oauth_scopes"] for row in listed)
    assert any(row["rotation_overdue"] for row in listed) and any(row["created_by"] is None for row in listed)
    assert any(row["config"].get("cloud_connection") for row in listed)


def test_connection_detail_equals_its_list_row(api_as, every_kind):
    client = api_as("viewer")
    row = next(r for r in client.get(BASE + "?page_size=500").json()["results"] if r["provider"] == "ecr")
    assert client.get(row["url"]).json() == row


def test_audit_responses_equal_drf_field_by_field(api_as, every_kind, org):
    listed = api_as("admin").get("/api/v1/orgs/acme/audit/?page_size=500").json()["results"]
    events = {event.pk: event for event in AuditEvent.objects.filter(org=org)}
    assert len(listed) == len(events) > 20
    for row in listed:
        assert row == generic(AuditEventSerializer(), events[row["id"]])
