"""Admin screens, for platform operators (active superusers) only: see accounts/admin_site.py, which
also audits every change made here.

Organization admins manage their organization through the platform's pages and API. Rows with rules
(members, environments, the audit trail, alerts) are read-only here; the few operator actions (revoke
a token, change a plan) go through services as `PlatformOperator`, so they are checked and audited like
any other change.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from guardian.admin import GuardedModelAdminMixin

from . import services
from .actors import PlatformOperator
from .models import (
    APIToken,
    AuditCheckpoint,
    AuditEvent,
    AuditHead,
    Environment,
    Invitation,
    Membership,
    Notification,
    Organization,
    OrganizationGroupObjectPermission,
    OrganizationUserObjectPermission,
    User,
)


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
    """Operators' view of accounts. `is_staff` means nothing on this platform (the admin wants a
    superuser), so it is not offered. A password set here is audited by name, never by value."""

    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_superuser", "date_joined", "last_login"]
    list_filter = ["is_active", "is_superuser"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name"]}),
        ("Access", {"fields": ["is_active", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        """Django's password form saves outside a transaction; here the new password and its audit
        event (accounts.admin_site) commit together or not at all."""
        with transaction.atomic():
            return super().user_change_password(request, id, form_url)


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
    """Environments are created and changed on the organization's pages (audited there)."""

    model = Environment
    extra = 0
    fields = ["slug", "name", "description"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrganizationAdminForm(forms.ModelForm):
    """The plan is the one organization field operators change here: through `do_change_plan`, whose
    downgrade check shows as an error on the field rather than failing after the save."""

    class Meta:
        model = Organization
        fields = ["name", "plan"]

    def clean_plan(self) -> str:
        plan = self.cleaned_data["plan"]
        if self.instance.pk and plan != self.instance.plan:
            try:
                services.check_plan_change(self.instance, plan)
            except ValidationError as exc:
                raise ValidationError(exc.message_dict.get("plan", exc.messages)) from None
        return plan


@admin.register(Organization)
class OrganizationAdmin(GuardedModelAdminMixin, admin.ModelAdmin):
    """Organizations are created on the platform (their creator becomes the first admin) and never
    deleted here (their audit trail protects them)."""

    form = OrganizationAdminForm
    list_display = ["slug", "name", "plan", "created_at"]
    list_filter = ["plan"]
    search_fields = ["slug", "name"]
    readonly_fields = ["slug", "created_at"]
    fields = ["slug", "name", "plan", "require_admin_2fa", "created_at"]
    inlines = [EnvironmentInline, MembershipInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["slug", "require_admin_2fa", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        operator = PlatformOperator(request.user)
        if "plan" in form.changed_data:
            services.do_change_plan(obj, plan=form.cleaned_data["plan"], actor=operator)
        if "name" in form.changed_data:
            Organization.objects.filter(pk=obj.pk).update(name=form.cleaned_data["name"])


@admin.register(Environment)
class EnvironmentAdmin(ReadOnlyAdmin):
    list_display = ["slug", "name", "org", "created_at"]
    list_filter = ["org"]
    search_fields = ["slug", "name", "org__slug"]
    list_select_related = ["org"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    """Members join by invitation and are managed by their organization's admins (pages and API)."""

    list_display = ["user", "org", "role", "created_at"]
    list_filter = ["role", "org"]
    search_fields = ["user__email", "org__slug"]
    list_select_related = ["user", "org"]


@admin.register(APIToken)
class APITokenAdmin(admin.ModelAdmin):
    """Tokens are created through the API or pages (the value is shown once there); here they can
    only be inspected and revoked."""

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
            services.do_revoke_token(token, actor=PlatformOperator(request.user))
        self.message_user(request, f"Revoked {queryset.count()} token(s) (and the tokens they minted).")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "org", "seq", "actor_label", "action", "target_repr", "environment", "client_ip"]
    list_filter = ["action", "actor_type", "org"]
    search_fields = ["actor_label", "action", "target_repr", "target_id", "request_id"]
    date_hierarchy = "created_at"
    list_select_related = ["org"]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    """Invitations are sent, resent and revoked by the organization's admins (pages and API)."""

    list_display = ["email", "org", "role", "sent_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role", "org"]
    search_fields = ["email", "org__slug"]
    list_select_related = ["org"]
    exclude = ["token_hash", "nonce"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name not in ("token_hash", "nonce")]


@admin.register(AuditHead)
class AuditHeadAdmin(ReadOnlyAdmin):
    """Where each audit chain ends (verify_audit compares the rows with it)."""

    list_display = ["chain", "org", "last_seq", "count", "updated_at"]


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    """Signed checkpoints of the audit chains (Celery beat)."""

    list_display = ["chain", "seq", "created_at"]
    list_filter = ["chain"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
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
