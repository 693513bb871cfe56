"""The VPN in Django's admin site: read-only for platform operators (changes go through the pages and
the API, whose services check the policy and audit). The encrypted keys are not even listed."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import VpnConnection


@admin.register(VpnConnection)
class VpnConnectionAdmin(admin.ModelAdmin):
    list_display = ("org", "onprem_subnet", "public_ip", "status", "vpn_connection_id", "health_checked_at")
    list_filter = ("status",)
    search_fields = ("org__slug", "onprem_subnet", "public_ip", "vpn_connection_id")
    exclude = ("psk_envelope", "psk_key_id")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in VpnConnection._meta.fields if f.name not in self.exclude]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
