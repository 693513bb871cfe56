"""django-filter sets of the VPN API and pages (a status that does not exist answers 400, never "none")."""

from __future__ import annotations

import django_filters

from .choices import VpnStatusChoices
from .models import VpnConnection


class VpnFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=VpnStatusChoices.choices)
    onprem_subnet = django_filters.CharFilter()
    public_ip = django_filters.CharFilter()

    class Meta:
        model = VpnConnection
        fields = ["status", "onprem_subnet", "public_ip"]
