"""Admin screens. Staff see only the organizations they administer (superusers see all).

Changes that have rules (roles, tokens) go through services; the audit trail is read-only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from guardian.admin import GuardedModelAdminMixin

from . import services
from .models import (
    APIToken,
    AuditEvent,
    Environment,
    Membership,
    Notification,
    Organization,
    OrganizationGroupObjectPermission,
    OrganizationUserObjectPermission,
    User,
)
from .policy import Action, allowed_org_ids


class OrgScopedAdmin(admin.ModelAdmin):
    """Limits rows to organizations where the staff user may `admin_action` (policy module)."""

    admin_action: Action = Action.VIEW
    org_lookup = "org"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        lookup = f"{self.org_lookup}__in" if self.org_lookup else "pk__in"
        return qs.filter(**{lookup: allowed_org_ids(request.user, self.admin_action)})


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows that change only through services (or never): every field read-only, and no add,
    change or delete here, so nothing skips the service's policy check and audit event."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class UserGrantAdmin(admin.ModelAdmin):
    """A django-guardian direct foreign-key grant table (user side), listed for review; grants are
    edited on each object's "Object permissions" page."""

    list_display = ["content_object", "user", "permission"]
    list_filter = ["permission"]
    list_select_related = ["content_object", "user", "permission"]


class GroupGrantAdmin(admin.ModelAdmin):
    list_display = ["content_object", "group", "permission"]
    list_filter = ["permission"]
    list_select_related = ["content_object", "group", "permission"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["user", "role", "created_at"]
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EnvironmentInline(admin.TabularInline):
    model = Environment
    extra = 0
    fields = ["slug", "name", "description"]
    readonly_fields = ["slug"]


@admin.register(Organization)
class OrganizationAdmin(GuardedModelAdminMixin, OrgScopedAdmin):
    admin_action = Action.MANAGE_PLAN
    org_lookup = ""
    list_display = ["slug", "name", "plan", "created_at"]
    list_filter = ["plan"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at"]
    inlines = [EnvironmentInline, MembershipInline]


@admin.register(Environment)
class EnvironmentAdmin(OrgScopedAdmin):
    admin_action = Action.MANAGE_ENVIRONMENTS
    list_display = ["slug", "name", "org", "created_at"]
    list_filter = ["org"]
    search_fields = ["slug", "name", "org__slug"]
    list_select_related = ["org"]
    readonly_fields = ["created_at"]


@admin.register(Membership)
class MembershipAdmin(OrgScopedAdmin):
    """Role changes and removals go through the services (last-admin rule, audit, token revocation)."""

    admin_action = Action.MANAGE_MEMBERS
    list_display = ["user", "org", "role", "created_at"]
    list_filter = ["role", "org"]
    search_fields = ["user__email", "org__slug"]
    list_select_related = ["user", "org"]
    autocomplete_fields = ["user"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        return ["user", "org", "created_at"] if obj else ["created_at"]

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        try:
            if change:
                services.do_change_member_role(obj, actor=request.user, role=form.cleaned_data["role"])
            else:
                obj.pk = services.do_add_member(obj.org, actor=request.user, email=obj.user.email, role=obj.role).pk
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), level=messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        try:
            services.do_remove_member(obj, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), level=messages.ERROR)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and super().has_delete_permission(request, obj)


@admin.register(APIToken)
class APITokenAdmin(OrgScopedAdmin):
    """Tokens are created through the API or pages (the value is shown once there); here they can
    only be inspected and revoked."""

    admin_action = Action.MANAGE_TOKENS
    list_display = ["name", "prefix", "user", "org", "role_cap", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["org", "role_cap"]
    search_fields = ["name", "prefix", "user__email"]
    list_select_related = ["user", "org"]
    readonly_fields = [
        "user",
        "org",
        "name",
        "prefix",
        "role_cap",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "created_at",
    ]
    exclude = ["key_hash"]
    actions = ["revoke_tokens"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        for token in queryset.select_related("org", "user"):
            services.do_revoke_token(token, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin, OrgScopedAdmin):
    admin_action = Action.READ_AUDIT
    list_display = ["created_at", "org", "seq", "actor_label", "action", "target_repr", "environment", "client_ip"]
    list_filter = ["action", "actor_type", "org"]
    search_fields = ["actor_label", "action", "target_repr", "target_id", "request_id"]
    date_hierarchy = "created_at"
    list_select_related = ["org"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin, OrgScopedAdmin):
    """Alerts are raised by health checks and dismissed on the pages or the API (audited there)."""

    list_display = ["created_at", "org", "level", "title", "dismissed_at"]
    list_filter = ["level", "org"]
    search_fields = ["title", "message"]
    date_hierarchy = "created_at"
    list_select_related = ["org"]


@admin.register(OrganizationUserObjectPermission)
class OrganizationUserObjectPermissionAdmin(UserGrantAdmin):
    """Per-organization grants, e.g. read_audit for one user."""

    search_fields = ["user__email", "content_object__slug"]


@admin.register(OrganizationGroupObjectPermission)
class OrganizationGroupObjectPermissionAdmin(GroupGrantAdmin):
    search_fields = ["group__name", "content_object__slug"]
