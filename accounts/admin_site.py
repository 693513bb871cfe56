"""The Django admin is for platform operators (active superusers) only, and every change made in it
is audited.

Why one site class: organization admins do everything through the platform's own pages and API,
which apply the role table; the admin site applies none of it (foreign-key choices list every
organization, a user's password can be set, `is_superuser` can be ticked). So the audience is the
operators, and `has_permission` says so for every admin view at once; a signed-in user who is not
one gets the admin login refusal (403), never a page.

Why `register` wraps every ModelAdmin: all admin writes (add, change, the user password form, the
delete page and the bulk "delete selected" action) end in the ModelAdmin's `log_addition`,
`log_change` or `log_deletions`. Mixing `AuditedAdminMixin` into every registered class, including
Django's and third-party ones, makes those the one root where an audit event is written (bulk
deletion creates LogEntry rows with `bulk_create`, so a LogEntry signal would miss it). Admin actions
that change state call `do_*` services, which audit themselves.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.http import HttpRequest

from .audit import record_event
from .choices import AuditAction

_CHANGED_FIELDS_ATTR = "_admin_changed_fields"


def is_platform_operator(user: Any) -> bool:
    """Who may use the admin site: active superusers."""
    return bool(user is not None and user.is_active and user.is_superuser)


def _org_slug(obj: Any) -> str:
    org = getattr(obj, "org", None)
    if org is not None:
        return getattr(org, "slug", "")
    return getattr(obj, "slug", "") if obj._meta.label_lower == "accounts.organization" else ""


def record_admin_change(request: HttpRequest, operation: str, objects: Any, fields: list[str] | None = None) -> None:
    """One `admin.change` event per object on the platform chain: model, object id, the NAMES of the
    changed fields (never their values), the acting operator. Runs in the admin's transaction when
    there is one (add, change, delete page), else in its own."""
    with transaction.atomic():
        for obj in objects:
            details: dict[str, Any] = {"operation": operation, "model": obj._meta.label_lower, "object_id": str(obj.pk)}
            if fields is not None:
                details["changed_fields"] = sorted(fields)
            if slug := _org_slug(obj):
                details["org"] = slug
            record_event(org=None, action=AuditAction.ADMIN_CHANGE, actor=request.user, target=obj, details=details)


class AuditedAdminMixin:
    """Writes an audit event wherever Django's admin writes its LogEntry."""

    def construct_change_message(self, request: HttpRequest, form: Any, formsets: Any, add: bool = False) -> Any:
        message = super().construct_change_message(request, form, formsets, add)  # type: ignore[misc]
        fields = set(form.changed_data)
        for formset in formsets or []:
            for inline_form in formset.forms:
                prefix = inline_form._meta.model._meta.model_name
                fields.update(f"{prefix}.{name}" for name in inline_form.changed_data)
            if getattr(formset, "deleted_objects", None):
                fields.add(f"{formset.model._meta.model_name}.(deleted)")
        setattr(request, _CHANGED_FIELDS_ATTR, sorted(fields))
        return message

    def _changed_fields(self, request: HttpRequest) -> list[str]:
        return getattr(request, _CHANGED_FIELDS_ATTR, [])

    def log_addition(self, request: HttpRequest, obj: models.Model, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)  # type: ignore[misc]
        record_admin_change(request, "add", [obj], self._changed_fields(request))
        return entry

    def log_change(self, request: HttpRequest, obj: models.Model, message: Any) -> Any:
        entry = super().log_change(request, obj, message)  # type: ignore[misc]
        record_admin_change(request, "change", [obj], self._changed_fields(request))
        return entry

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        entries = super().log_deletions(request, queryset)  # type: ignore[misc]
        record_admin_change(request, "delete", list(queryset))
        return entries

    # django-guardian's "Object permissions" pages save grants without a LogEntry: audit them here.

    def _audit_grant_view(self, view: Any, request: HttpRequest, object_pk: str, who: str) -> Any:
        with transaction.atomic():
            response = view(request, object_pk, who.split(":", 1)[1])
            saved = request.method == "POST" and response.status_code == 302 and "permissions" in response["Location"]
            if saved and (obj := self.get_queryset(request).filter(pk=object_pk).first()) is not None:  # type: ignore[attr-defined]
                record_admin_change(request, "object_permissions", [obj], [who])
        return response

    def obj_perms_manage_user_view(self, request: HttpRequest, object_pk: str, user_id: str) -> Any:
        return self._audit_grant_view(super().obj_perms_manage_user_view, request, object_pk, f"user:{user_id}")  # type: ignore[misc]

    def obj_perms_manage_group_view(self, request: HttpRequest, object_pk: str, group_id: str) -> Any:
        return self._audit_grant_view(super().obj_perms_manage_group_view, request, object_pk, f"group:{group_id}")  # type: ignore[misc]


class PlatformAdminSite(admin.AdminSite):
    """`admin.site` of this project (see accounts.apps.PlatformAdminConfig): operators only, every change audited."""

    site_header = "Cloud Connections administration"
    site_title = "Cloud Connections admin"

    def has_permission(self, request: HttpRequest) -> bool:
        return is_platform_operator(request.user)

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AuditedAdminMixin):
            admin_class = type(
                admin_class.__name__, (AuditedAdminMixin, admin_class), {"__module__": admin_class.__module__}
            )
        super().register(model_or_iterable, admin_class, **options)
