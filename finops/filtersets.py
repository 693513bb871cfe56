"""django-filter sets for the FinOps API and dashboard: date range and the attribution dimensions."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from .models import CostAnomaly, CostRecord, SyncJob


class CostRecordFilterSet(django_filters.FilterSet):
    """`start`/`end` are inclusive days of ChargePeriodStart; the rest select by attribution."""

    start = django_filters.DateFilter(field_name="charge_period_start", lookup_expr="gte", label="First day")
    end = django_filters.DateFilter(field_name="charge_period_start", lookup_expr="lte", label="Last day")
    connection = django_filters.CharFilter(field_name="connection__name")
    environment = django_filters.CharFilter(
        method="filter_environment", label="Environment slug ('none': unattributed)"
    )
    project = django_filters.CharFilter(field_name="project_name", label="Project name (the project tag's value)")
    provider = django_filters.CharFilter()
    service = django_filters.CharFilter(field_name="service_name")
    currency = django_filters.CharFilter(field_name="billing_currency")

    class Meta:
        model = CostRecord
        fields = ["provider"]

    def filter_environment(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "none":
            return queryset.filter(environment__isnull=True)
        return queryset.filter(environment__slug=value)


class SyncJobFilterSet(django_filters.FilterSet):
    connection = django_filters.CharFilter(field_name="connection__name")
    status = django_filters.CharFilter()

    class Meta:
        model = SyncJob
        fields = ["status"]


class CostAnomalyFilterSet(django_filters.FilterSet):
    connection = django_filters.CharFilter(field_name="connection__name")
    service = django_filters.CharFilter(field_name="service_name")
    start = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    end = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = CostAnomaly
        fields = ["connection"]
