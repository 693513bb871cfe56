"""Filters for run history (API and pages): project, status, kind, environment, connection, dates."""

from __future__ import annotations

import django_filters

from core.api.filters import IsoDateTimeFilter

from .choices import RunKind, RunStatus
from .models import TerraformProject, TerraformRun


class RunFilterSet(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__name", help_text="Project name.")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    kind = django_filters.ChoiceFilter(choices=RunKind.choices)
    environment = django_filters.CharFilter(field_name="environment", help_text="Environment slug.")
    connection = django_filters.CharFilter(field_name="connection__name", help_text="Connection name.")
    # core.api.filters: offsets converted to UTC first (PostgreSQL refuses offsets beyond ±15:59).
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = TerraformRun
        fields = ["project", "status", "kind", "environment", "connection", "created_after", "created_before"]


class ProjectFilterSet(django_filters.FilterSet):
    environment = django_filters.CharFilter(field_name="environment__slug", help_text="Environment slug.")
    connection = django_filters.CharFilter(field_name="connection__name", help_text="Connection name.")
    provider = django_filters.CharFilter(field_name="provider")

    class Meta:
        model = TerraformProject
        fields = ["environment", "connection", "provider"]
