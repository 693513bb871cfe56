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


# --- FilterBackend: no filter parameter, no filterset ---------------------------------------------------------


def _api_filtersets() -> list[type]:
    """Every FilterSet class of the apps (imported through the API's URLs)."""
    import django_filters
    from django.urls import get_resolver

    assert get_resolver().url_patterns  # imports every API view, hence every filterset
    found, pending = [], list(django_filters.FilterSet.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in ("accounts", "connections", "identity", "vpn", "finops", "projects"):
            found.append(cls)
    return found


def test_every_filterset_without_parameters_leaves_the_queryset_as_it_is():
    """What makes skipping it safe: for every filterset the backend may skip, a request without parameters
    gets exactly the query it started from."""
    from django.http import QueryDict

    from core.api.filters import _filter_prefixes

    skippable = [cls for cls in _api_filtersets() if _filter_prefixes(cls) is not None]
    assert len(skippable) >= 8
    for cls in skippable:
        queryset = cls._meta.model.objects.all()
        filterset = cls(data=QueryDict(""), queryset=queryset)
        assert filterset.is_valid(), (cls, filterset.errors)
        assert str(filterset.qs.query) == str(queryset.query), cls


def test_a_filterset_that_could_act_without_parameters_always_runs():
    import django_filters

    from accounts.models import Environment
    from core.api.filters import _filter_prefixes

    class Required(django_filters.FilterSet):
        slug = django_filters.CharFilter(required=True)

        class Meta:
            model = Environment
            fields: list[str] = []

    class OwnQs(django_filters.FilterSet):
        class Meta:
            model = Environment
            fields = ["slug"]

        @property
        def qs(self):
            return super().qs.exclude(slug="production")

    class Plain(django_filters.FilterSet):
        class Meta:
            model = Environment
            fields = ["slug", "name"]

    assert _filter_prefixes(Required) is None and _filter_prefixes(OwnQs) is None
    assert set(_filter_prefixes(Plain)) == {"slug", "name"}


def test_a_list_without_filter_parameters_builds_no_filterset(api_as, org, monkeypatch):
    from connections.filtersets import ConnectionFilterSet

    built = []
    original = ConnectionFilterSet.__init__
    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ConnectionFilterSet, "__init__", counting)
    client = api_as("viewer")
    assert client.get("/api/v1/orgs/acme/connections/?page_size=5&ordering=-name").status_code == 200
    assert built == []
    assert client.get("/api/v1/orgs/acme/connections/?q=").status_code == 200  # an empty filter still runs it
    assert built == [1]


@pytest.mark.parametrize(
    ("query", "field"),
    [("provider=nope", "provider"), ("rotation_overdue=maybe", "rotation_overdue"), ("status=x&page_size=2", "status")],
)
def test_filter_parameters_are_validated_as_before(api_as, org, query, field):
    response = api_as("viewer").get(f"/api/v1/orgs/acme/connections/?{query}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


def test_audit_filters_still_apply(api_as, org, members):
    from accounts.services import do_add_member, do_create_environment

    do_create_environment(org, actor=members["admin"], slug="qa", name="QA")
    do_add_member(org, actor=members["admin"], email="new@acme.test", role="viewer")
    client = api_as("admin")
    everything = client.get("/api/v1/orgs/acme/audit/").json()["results"]
    created = client.get("/api/v1/orgs/acme/audit/?action=environment.created").json()["results"]
    assert 0 < len(created) < len(everything)
    assert {event["action"] for event in created} == {"environment.created"}
