from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, organizations, environments, memberships, API tokens, the RBAC policy and the audit trail."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        # late import: system checks register when their module loads, which needs the app registry ready
        from .authn import checks  # noqa: F401
