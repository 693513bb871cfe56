"""django-filter sets for the accounts API and pages."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from .models import AuditEvent, Environment, Membership


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


class AuditEventFilterSet(django_filters.FilterSet):
    actor = django_filters.CharFilter(method="filter_actor", label="Actor (email, or part of it)")
    action = django_filters.CharFilter(method="filter_action", label="Action (exact, or a prefix ending in '.')")
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()
    target = django_filters.CharFilter(method="filter_target", label="Target (name, or part of it)")
    environment = django_filters.CharFilter()
    request_id = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte", label="From (ISO 8601)")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt", label="Until (ISO 8601)")

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
