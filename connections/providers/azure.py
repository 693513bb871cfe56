"""Microsoft Azure: a service principal with a client secret, or federated credentials (no secret)."""

from __future__ import annotations

from typing import Any

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider

FEDERATED_TOKEN_FILE = "azure-federated-token"


class AzureProvider(Provider):
    """Azure subscription connection.

    Both the Terraform azurerm provider (``ARM_*``) and the Azure SDK/CLI (``AZURE_*``) variables are
    set. For ``federated`` the runtime passes the platform's OIDC token as ``oidc_token``.
    """

    code = "azure"
    label = "Microsoft Azure"
    category = "cloud"
    description = "Azure subscriptions through a service principal, with a client secret or federated credentials."
    icon = "AZ"
    color = "#0078d4"
    test_description = "Token acquisition for the service principal."
    auth_methods = (
        AuthMethod("client_secret", "Client secret", "A service principal's client ID and secret value."),
        AuthMethod(
            "federated",
            "Federated credentials",
            "The service principal trusts the platform's OIDC issuer; no secret is stored.",
            stores_secret=False,
        ),
    )
    fields = (
        Field("subscription_id", "Subscription ID", "string", validators=(v.guid,)),
        Field("tenant_id", "Tenant ID", "string", validators=(v.guid,), help_text="Directory (tenant) ID."),
        Field("client_id", "Client ID", "string", validators=(v.guid,), help_text="Application (client) ID."),
        Field("region", "Default region", "string", required=False, validators=(v.azure_region,),
              placeholder="westeurope"),
        Field("client_secret", "Client secret", "string", secret=True, validators=(v.azure_client_secret,),
              auth_methods=("client_secret",), help_text="The secret's Value (not its ID)."),
    )  # fmt: skip
    summary_fields = ("subscription_id", "region")

    def _materialize(
        self,
        auth_method: str,
        config: dict[str, Any],
        secrets: dict[str, Any],
        *,
        ref: Materialized | None,
        ref_config: dict[str, Any],
    ) -> Materialized:
        out = Materialized()
        for suffix in ("SUBSCRIPTION_ID", "TENANT_ID", "CLIENT_ID"):
            value = config[suffix.lower()]
            out.set_env(f"ARM_{suffix}", value)
            out.set_env(f"AZURE_{suffix}", value)
        if config.get("region"):
            out.set_env("AZURE_DEFAULTS_LOCATION", config["region"])
        if auth_method == "client_secret":
            out.set_secret_env("ARM_CLIENT_SECRET", secrets["client_secret"])
            out.set_secret_env("AZURE_CLIENT_SECRET", secrets["client_secret"])
            return out
        out.set_env("ARM_USE_OIDC", "true")
        if secrets.get("oidc_token"):
            out.set_secret_env("ARM_OIDC_TOKEN", secrets["oidc_token"])
            out.set_env("AZURE_FEDERATED_TOKEN_FILE", out.add_file(FEDERATED_TOKEN_FILE, secrets["oidc_token"]))
        return out
