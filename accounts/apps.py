from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, organizations, environments, memberships, API tokens, the RBAC policy and the audit trail."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
