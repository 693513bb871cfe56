"""Read-only admin screens for projects and runs: changes go through the pages and API (services, audit).
The uploaded archive and the encrypted state are never shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import TerraformProject, TerraformRun


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TerraformProject)
class TerraformProjectAdmin(ReadOnlyAdmin):
    list_display = ("name", "org", "environment", "provider", "connection", "source_kind", "updated_at")
    list_filter = ("provider", "source_kind")
    search_fields = ("name", "org__slug")
    list_select_related = ("org", "environment", "connection")
    exclude = ("archive", "local_state_envelope")


@admin.register(TerraformRun)
class TerraformRunAdmin(ReadOnlyAdmin):
    list_display = ("pk", "project", "kind", "status", "environment", "created_at", "duration_ms")
    list_filter = ("status", "kind")
    list_select_related = ("project",)
