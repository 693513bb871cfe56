"""Admin screens for connections. Secrets are never shown; they change only through rotate (pages/API).

The admin is for platform operators (accounts/admin_site.py); their changes go through services as
`PlatformOperator`, so they are checked and audited like any other.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from guardian.admin import GuardedModelAdminMixin

from accounts.actors import PlatformOperator
from accounts.admin import GroupGrantAdmin, ReadOnlyAdmin, UserGrantAdmin

from . import services
from .models import (
    Connection,
    ConnectionAuthorization,
    ConnectionGroupObjectPermission,
    ConnectionRole,
    ConnectionUsage,
    ConnectionUserObjectPermission,
)


class AuthorizationInline(admin.TabularInline):
    model = ConnectionAuthorization
    extra = 0
    fields = ["environment", "is_default", "created_by", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Connection)
class ConnectionAdmin(GuardedModelAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "org",
        "provider",
        "auth_method",
        "status",
        "health_status",
        "last_used_at",
        "credentials_rotated_at",
    ]
    list_filter = ["provider", "category", "status", "health_status", "org"]
    search_fields = ["name", "org__slug", "description"]
    list_select_related = ["org"]
    exclude = ["secrets_envelope"]
    readonly_fields = [
        "id",
        "org",
        "name",
        "provider",
        "category",
        "auth_method",
        "public_config",
        "secret_fields",
        "external_id",
        "cloud_connection",
        "status",
        "health_status",
        "last_checked_at",
        "last_check_error",
        "last_used_at",
        "credentials_rotated_at",
        "oauth_scopes",
        "oauth_expires_at",
        "secrets_key_id",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
    ]
    fields = ["description", *readonly_fields]
    inlines = [AuthorizationInline]
    actions = ["activate", "deactivate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # creation needs the provider's form (pages) or the API

    @admin.display(description="Config (public fields)")
    def public_config(self, obj: Connection) -> str:
        return format_html_join("", "<div><strong>{}</strong>: {}</div>", sorted(obj.config.items())) or "-"

    @admin.display(description="Secret fields set (fingerprints)")
    def secret_fields(self, obj: Connection) -> str:
        return format_html_join("", "<div>{} <code>{}</code></div>", sorted(obj.secret_fingerprints.items())) or "-"

    def save_model(self, request: HttpRequest, obj: Connection, form: Any, change: bool) -> None:
        try:
            services.do_update_connection(
                obj, actor=PlatformOperator(request.user), description=form.cleaned_data["description"]
            )
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), level=messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: Connection) -> None:
        try:
            services.do_delete_connection(obj, actor=PlatformOperator(request.user))
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), level=messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def _set_active(self, request: HttpRequest, queryset: QuerySet, active: bool) -> None:
        for obj in queryset:
            services.do_set_active(obj, actor=PlatformOperator(request.user), active=active)
        self.message_user(request, f"{'Activated' if active else 'Deactivated'} {queryset.count()} connection(s).")

    @admin.action(description="Activate selected connections")
    def activate(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description="Deactivate selected connections")
    def deactivate(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_active(request, queryset, False)


@admin.register(ConnectionAuthorization)
class ConnectionAuthorizationAdmin(admin.ModelAdmin):
    list_display = ["connection", "environment", "provider", "is_default", "org", "created_by", "created_at"]
    list_filter = ["provider", "is_default", "org"]
    search_fields = ["connection__name", "environment__slug"]
    list_select_related = ["connection", "environment", "org", "created_by"]
    # The default changes only through do_set_default_connection (audited): read-only here like the rest.
    readonly_fields = ["connection", "environment", "org", "provider", "is_default", "created_by", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: ConnectionAuthorization) -> None:
        services.do_revoke_environment(obj.connection, obj.environment, actor=PlatformOperator(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset.select_related("connection", "environment"):
            self.delete_model(request, obj)


@admin.register(ConnectionUsage)
class ConnectionUsageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "connection", "environment", "actor_label", "purpose", "outcome"]
    list_filter = ["outcome", "org"]
    search_fields = ["connection__name", "actor_label", "purpose", "resource"]
    date_hierarchy = "created_at"
    list_select_related = ["connection"]


@admin.register(ConnectionRole)
class ConnectionRoleAdmin(ReadOnlyAdmin):
    """Roles are added and validated through the pages and API (validation needs the cloud)."""

    list_display = ["__str__", "connection", "org", "status", "validated_at", "created_at"]
    list_filter = ["status", "org"]
    search_fields = ["role_arn", "client_id", "object_id", "connection__name", "name"]
    list_select_related = ["connection", "org"]


@admin.register(ConnectionUserObjectPermission)
class ConnectionUserObjectPermissionAdmin(UserGrantAdmin):
    """Per-connection grants, e.g. test_connection for one user."""

    search_fields = ["user__email", "content_object__name"]


@admin.register(ConnectionGroupObjectPermission)
class ConnectionGroupObjectPermissionAdmin(GroupGrantAdmin):
    search_fields = ["group__name", "content_object__name"]
