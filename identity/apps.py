from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """The OIDC issuer: signing keys (encrypted at rest), discovery document and JWKS."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "identity"
    verbose_name = "OIDC issuer"

    def ready(self) -> None:
        # late import: system checks register when their module loads, which needs the app registry ready
        from . import checks  # noqa: F401
