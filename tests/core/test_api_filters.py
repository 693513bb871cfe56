"""Shared API filters (core/api/filters.py): ISO date-times reach the database in UTC (PostgreSQL refused an
offset beyond ±15:59: a 500 schemathesis found), and a value out of range once converted is a 400."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.api.filters import UTCIsoDateTimeField

pytestmark = pytest.mark.django_db


def test_values_are_converted_to_utc():
    value = UTCIsoDateTimeField().clean("0449-01-11T22:29:45+22:42")
    assert value == datetime(449, 1, 10, 23, 47, 45, tzinfo=UTC) and value.tzinfo is UTC


@pytest.mark.parametrize(
    "query",
    ["until=0449-01-11T22:29:45.0%2B22:42", "since=2026-01-01T00:00:00-23:59", "until=9999-12-31T23:59:59-01:00"],
)
def test_audit_filter_with_extreme_offsets_answers(api_as, org, query):
    response = api_as("admin").get(f"/api/v1/orgs/acme/audit/?{query}")
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("query", ["since=0001-01-01T00:00:00%2B05:00", "until=not-a-date"])
def test_out_of_range_or_malformed_date_time_is_a_field_error(api_as, org, query):
    response = api_as("admin").get(f"/api/v1/orgs/acme/audit/?{query}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [query.split("=")[0]]


def test_every_app_uses_the_utc_iso_filter():
    """django-filter's own IsoDateTimeFilter passes offsets beyond ±15:59 to PostgreSQL (a 500, found by
    schemathesis on the runs list): every filterset takes core.api.filters' instead."""
    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for app in ("accounts", "connections", "identity", "vpn", "finops", "projects")
        for path in (root / app).rglob("*.py")
        if "django_filters.IsoDateTimeFilter" in path.read_text()
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "query", ["created_before=6646-02-14T08:33:11.73558-16:01", "created_after=2026-01-01T00:00+23:59"]
)
def test_run_history_with_extreme_offsets_answers(api_as, org, query):
    response = api_as("admin").get(f"/api/v1/orgs/acme/runs/?{query}")
    assert response.status_code in (200, 400), response.content
