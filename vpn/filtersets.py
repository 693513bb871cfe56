"""django-filter sets of the VPN API and pages (a status that does not exist answers 400, never "none")."""

from __future__ import annotations

import django_filters
from django import forms

from .choices import VpnStatusChoices
from .models import VpnConnection


class IPv4Filter(django_filters.CharFilter):
    """An exact match on an IPv4 column: anything else is the filter's 400, not a database error (PostgreSQL's
    `inet` refuses a non-address, which reached the database as a 500 before)."""

    field_class = forms.GenericIPAddressField


class VpnFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=VpnStatusChoices.choices)
    onprem_subnet = django_filters.CharFilter()
    public_ip = IPv4Filter(protocol="IPv4")

    class Meta:
        model = VpnConnection
        fields = ["status", "onprem_subnet", "public_ip"]
