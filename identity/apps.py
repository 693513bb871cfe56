from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """The OIDC issuer: signing keys (encrypted at rest), discovery document and JWKS."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "identity"
    verbose_name = "OIDC issuer"
