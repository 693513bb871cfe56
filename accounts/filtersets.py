"""django-filter sets for the accounts API and pages."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.api.filters import IsoDateTimeFilter

from .choices import AuditAction
from .models import AuditEvent, Environment, Invitation, Membership


class EnvironmentFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = Environment
        fields = ["slug"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(slug__icontains=value) | Q(name__icontains=value))


class MembershipFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    role = django_filters.CharFilter()

    class Meta:
        model = Membership
        fields = ["role"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(user__email__icontains=value) | Q(user__full_name__icontains=value))


class InvitationFilterSet(django_filters.FilterSet):
    """`status` is computed (accepted, revoked, expired, pending), so it filters on the fields behind it."""

    status = django_filters.ChoiceFilter(
        method="filter_status",
        choices=[(v, v) for v in ("pending", "expired", "accepted", "revoked")],
        label="Status",
    )
    email = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Invitation
        fields = ["role"]

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        now = timezone.now()
        open_ = queryset.filter(accepted_at__isnull=True, revoked_at__isnull=True)
        return {
            "accepted": queryset.filter(accepted_at__isnull=False),
            "revoked": queryset.filter(revoked_at__isnull=False, accepted_at__isnull=True),
            "expired": open_.filter(expires_at__lte=now),
            "pending": open_.filter(expires_at__gt=now),
        }[value]


class AuditEventFilterSet(django_filters.FilterSet):
    actor = django_filters.CharFilter(method="filter_actor", label="Actor (email, or part of it)")
    action = django_filters.CharFilter(method="filter_action", label="Action (exact, or a prefix ending in '.')")
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()
    target = django_filters.CharFilter(method="filter_target", label="Target (name, or part of it)")
    environment = django_filters.CharFilter()
    request_id = django_filters.CharFilter()
    since = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte", label="From (ISO 8601)")
    until = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt", label="Until (ISO 8601)")

    class Meta:
        model = AuditEvent
        fields = ["target_type", "target_id", "environment", "request_id"]

    def filter_actor(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(actor_label__icontains=value)

    def filter_action(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value.endswith("."):
            return queryset.filter(action__startswith=value)
        return queryset.filter(action=value)

    def filter_target(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(target_repr__icontains=value) | Q(target_id=value))


def action_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Every audit action, grouped by what it is about, each group led by "all of them" (the API's
    prefix filter), so the page offers the list rather than asking for the exact spelling."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for value, label in sorted(AuditAction.choices):
        prefix = value.split(".", 1)[0]
        groups.setdefault(prefix, [(f"{prefix}.", f"All {prefix.replace('_', ' ')} events")])
        groups[prefix].append((value, f"{label} ({value})"))
    return [(prefix.replace("_", " ").capitalize(), options) for prefix, options in groups.items()]


def _start_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


class AuditPageFilterSet(AuditEventFilterSet):
    """The API's audit filters, with whole days for `since`/`until` as a browser's date input sends them.

    `until` includes the day it names (the API's `until` is an exclusive instant), which is what
    someone picking "until 5 March" on a page means.
    """

    date_widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    action = django_filters.ChoiceFilter(method="filter_action", choices=lambda: action_choices(), empty_label="Any")
    since = django_filters.DateFilter(method="filter_since", label="From", widget=date_widget)
    until = django_filters.DateFilter(method="filter_until", label="Until", widget=date_widget)

    # Short labels for the page; the API's longer ones explain the matching rules, which become help text.
    PAGE_LABELS = {
        "actor": ("Actor", "Email, or part of it."),
        "action": ("Action", ""),
        "target": ("Target", "Name, or part of it."),
        "environment": ("Environment", ""),
        "request_id": ("Request ID", ""),
        "since": ("From", ""),
        "until": ("Until", "Included."),
    }

    @property
    def form(self) -> forms.Form:
        form = super().form
        for name, (label, help_text) in self.PAGE_LABELS.items():
            form.fields[name].label = label
            form.fields[name].help_text = help_text
        return form

    def filter_since(self, queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
        return queryset.filter(created_at__gte=_start_of_day(value))

    def filter_until(self, queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
        return queryset.filter(created_at__lt=_start_of_day(value + dt.timedelta(days=1)))
