"""django-filter sets for the connections API and pages.

Provider, category, status and health accept repeated values (`?provider=aws&provider=gcp`) and
answer 400 for a value that does not exist, so a typo never looks like "no connections".
"""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django import forms
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from .choices import ConnectionStatusChoices, HealthStatusChoices
from .models import Connection
from .providers import CATEGORY_CHOICES, PROVIDER_CHOICES

ROTATION_CHOICES = [("true", "Due for rotation"), ("false", "Not due for rotation")]


class ConnectionFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search (part of the name)")
    provider = django_filters.MultipleChoiceFilter(choices=PROVIDER_CHOICES)
    category = django_filters.MultipleChoiceFilter(choices=CATEGORY_CHOICES)
    status = django_filters.MultipleChoiceFilter(choices=ConnectionStatusChoices.choices)
    health_status = django_filters.MultipleChoiceFilter(choices=HealthStatusChoices.choices)
    # One authorization per (connection, environment): the join cannot duplicate rows.
    environment = django_filters.CharFilter(
        field_name="authorizations__environment__slug", label="Authorized for environment (slug)"
    )
    # A choice, not a boolean: `?rotation_overdue=maybe` is a 400 like any other unknown value.
    rotation_overdue = django_filters.ChoiceFilter(
        choices=ROTATION_CHOICES,
        method="filter_rotation_overdue",
        label="Rotation due (stored credentials older than ROTATION_REMINDER_DAYS): true or false",
    )

    class Meta:
        model = Connection
        fields = ["provider", "category", "status", "health_status"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(name__icontains=value.strip())

    def filter_rotation_overdue(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """The same rule as `Connection.rotation_overdue`, in the database: secrets stored, and entered
        at least ROTATION_REMINDER_DAYS ago (a connection without stored secrets is never due)."""
        if value not in ("true", "false"):
            return queryset
        due = ~Q(secret_fingerprints={}) & Q(
            credentials_rotated_at__lte=timezone.now() - timedelta(days=settings.ROTATION_REMINDER_DAYS)
        )
        return queryset.filter(due) if value == "true" else queryset.exclude(due)


class ConnectionPageFilterSet(ConnectionFilterSet):
    """The API's connection filters, with single-choice provider and status selects for the page.

    Values stay in the URL (a GET form), so a filtered view can be bookmarked and works without script.
    """

    q = django_filters.CharFilter(
        method="search",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Part of the name", "autocomplete": "off"}),
    )
    provider = django_filters.ChoiceFilter(choices=PROVIDER_CHOICES, empty_label="All providers", label="Provider")
    status = django_filters.ChoiceFilter(
        choices=ConnectionStatusChoices.choices, empty_label="Any status", label="Status"
    )
    rotation_overdue = django_filters.ChoiceFilter(
        choices=ROTATION_CHOICES, method="filter_rotation_overdue", empty_label="Any rotation", label="Rotation"
    )
