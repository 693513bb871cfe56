from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    """Users, organizations, environments, memberships, API tokens, the RBAC policy and the audit trail."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        # late import: system checks register when their module loads, which needs the app registry ready
        from .authn import checks  # noqa: F401


class PlatformAdminConfig(admin_apps.AdminConfig):
    """Replaces `django.contrib.admin` in INSTALLED_APPS so `admin.site` is the platform's site:
    operators (superusers) only, every change audited (accounts/admin_site.py)."""

    default = False  # named explicitly in INSTALLED_APPS; AccountsConfig stays the app's default
    default_site = "accounts.admin_site.PlatformAdminSite"
