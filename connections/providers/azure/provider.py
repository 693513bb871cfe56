"""Microsoft Azure: a service principal with a client secret, or federated credentials (no secret)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import AzureError, ClientAuthenticationError, ServiceRequestError, ServiceResponseError
from azure.identity import ClientAssertionCredential, ClientSecretCredential

from core.masking import MASK, MIN_REGISTERED_LENGTH, mask, secret_values

from .. import validators as v
from ..base import AuthMethod, Field, Materialized, Provider, federation_panel
from ..contract import CheckFailed, CheckResult, endpoint
from ..run import RefreshingFile, RunSetup
from .common import FEDERATED_AUDIENCE, ca_file
from .roles import AzureRoleSupport

FEDERATED_TOKEN_FILE = "azure-federated-token"
# azure-identity wraps Entra ID's description in one of these; the description alone is the provider's reason.
_WRAPPERS = (
    re.compile(r"^Authentication failed:\s*(?P<text>.*)$", re.S),
    re.compile(r"^Microsoft Entra ID error '\((?P<code>[^)]*)\)\s*(?P<text>.*)'$", re.S),
)
_NO_AUTHORITY = "Unable to get authority configuration"
# Support details Entra ID appends to every description, on the same line or the next ones.
_SUPPORT_TAIL = re.compile(r"\s*(?:Trace ID|Correlation ID|Timestamp):.*$", re.S)


def ca_bundle() -> str | bool:
    """TLS verification for Entra ID: the `AZURE_CA_BUNDLE` file when set, else the default trust store."""
    return ca_file() or True


def entra_reason(message: str, *payloads: Any) -> str:
    """The useful part of an Entra ID error: the ``AADSTS…`` description, without trace ids or secrets.

    Entra ID appends Trace/Correlation IDs and a timestamp; they help support, not the user reading a
    connection card (and make every failure look new), so they are cut.
    """
    text = message.strip()
    for wrapper in _WRAPPERS:
        match = wrapper.match(text)
        if match:
            text = match.group("text").strip()
    text = _SUPPORT_TAIL.sub("", text).strip() or "Microsoft Entra ID refused the credentials."
    for value in sorted(secret_values(list(payloads)), key=len, reverse=True):
        if len(value) >= MIN_REGISTERED_LENGTH:
            text = text.replace(value, MASK)
    return mask(text)


class AzureProvider(Provider):
    """Azure subscription connection.

    Both the Terraform azurerm provider (``ARM_*``) and the Azure SDK/CLI (``AZURE_*``) variables are
    set. For ``federated`` the runtime passes the platform's OIDC token as ``oidc_token``.
    """

    code = "azure"
    terraform_prefixes = ("azurerm_", "azuread_", "azapi_")
    resource_kinds = (
        "Azure", "AKS", "Azure SQL", "Azure VM", "Azure Storage", "Cosmos DB", "Azure Functions", "App Service",
    )
    role_support = AzureRoleSupport()
    endpoints = {
        "azure_authority": "https://login.microsoftonline.com",
        "azure_management": "https://management.azure.com",
    }
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

    def federation_setup(
        self, auth_method: str, config: Mapping[str, Any], *, issuer: str, subject: str
    ) -> dict[str, Any] | None:
        """Federated: the credential to add to the app registration (Certificates & secrets > Federated
        credentials > Other issuer), and the ``az`` command that adds it."""
        if auth_method != "federated":
            return None
        # Entra ID credential names: letters, digits, '-' and '_', at most 120 characters, unique per app.
        name = re.sub(r"[^A-Za-z0-9_-]", "-", f"cloudconnections-{subject.replace(':', '-')}")[:120]
        parameters = {
            "name": name,
            "issuer": issuer,
            "subject": subject,
            "audiences": [FEDERATED_AUDIENCE],
            "description": "Cloud connections platform",
        }
        app = str(config.get("client_id") or "CLIENT_ID")
        return federation_panel(
            "Federated credential in Microsoft Entra ID",
            values=[
                ("issuer", "Issuer", issuer),
                ("subject", "Subject identifier", subject),
                ("audience", "Audience", FEDERATED_AUDIENCE),
                ("name", "Name", name),
            ],
            commands=[
                (
                    "Add the federated credential to the app registration",
                    f"az ad app federated-credential create --id {shlex.quote(app)} "
                    f"--parameters {shlex.quote(json.dumps(parameters))}",
                ),
            ],
            documents=[("federated_credential", "Federated credential (az --parameters)", parameters)],
            notes=[
                "In the portal: App registrations > the app > Certificates & secrets > Federated credentials > "
                "Add credential > Other issuer, with these values."
            ],
        )

    def check(self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any) -> CheckResult:
        """Acquire an ARM token for the service principal, as the azurerm provider does at the start of a run.

        Instance discovery is disabled because the authority is the platform's configured one (sovereign
        clouds, tests), never a host discovered from Microsoft's metadata.
        """
        tenant_id, client_id = str(config["tenant_id"]), str(config["client_id"])
        options: dict[str, Any] = {
            "authority": ctx.endpoint("azure_authority"),
            "disable_instance_discovery": True,
            "connection_verify": ca_bundle(),
            "connection_timeout": ctx.timeout,
            "read_timeout": ctx.timeout,
            "retry_total": 1,
        }
        assertions: list[str] = []
        if auth_method == "client_secret":
            credential: Any = ClientSecretCredential(tenant_id, client_id, str(secrets["client_secret"]), **options)
        elif auth_method == "federated":
            sign = ctx.sign_assertion
            if sign is None:
                raise CheckFailed("The platform's OIDC issuer is not configured, so no assertion can be signed.")

            def assertion() -> str:
                assertions.append(sign(FEDERATED_AUDIENCE))
                return assertions[-1]

            credential = ClientAssertionCredential(tenant_id, client_id, func=assertion, **options)
        else:
            raise CheckFailed(f"Unknown Azure auth method {auth_method!r}.")
        scope = f"{ctx.endpoint('azure_management')}/.default"
        try:
            with credential:
                token = credential.get_token(scope)
        except ClientAuthenticationError as exc:
            reason = entra_reason(exc.message or str(exc), secrets, assertions)
            if isinstance(exc.__cause__, ServiceRequestError | ServiceResponseError):
                raise CheckFailed(f"Could not reach Microsoft Entra ID: {reason}") from None
            if _NO_AUTHORITY in reason:  # MSAL's words when the tenant's OpenID configuration is refused
                reason = f"Microsoft Entra ID has no tenant {tenant_id}; check the tenant ID."
            raise CheckFailed(reason) from None
        except AzureError as exc:
            reason = entra_reason(exc.message or str(exc), secrets, assertions)
            raise CheckFailed(f"Could not reach Microsoft Entra ID: {reason}") from None
        return CheckResult(
            f"Service principal {client_id} obtained a token in tenant {tenant_id}.",
            details={"tenant_id": tenant_id, "client_id": client_id, "expires_on": token.expires_on},
        )

    def run_setup(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any, *, ref: Any = None
    ) -> Any:
        """Federated: one token file read by both azurerm (``ARM_OIDC_TOKEN_FILE_PATH``) and azure-identity
        (``AZURE_FEDERATED_TOKEN_FILE``), rewritten before the token expires. No token in a variable: it
        could not be refreshed there."""
        if auth_method != "federated":
            return None
        config = self._with_defaults(auth_method, config)
        out = Materialized()
        for suffix in ("SUBSCRIPTION_ID", "TENANT_ID", "CLIENT_ID"):
            out.set_env(f"ARM_{suffix}", config[suffix.lower()])
            out.set_env(f"AZURE_{suffix}", config[suffix.lower()])
        if config.get("region"):
            out.set_env("AZURE_DEFAULTS_LOCATION", config["region"])
        authority = endpoint("azure_authority")
        if authority != self.endpoints["azure_authority"]:  # a sovereign cloud or a private authority
            out.set_env("AZURE_AUTHORITY_HOST", authority)
        out.set_env("ARM_USE_OIDC", "true")
        token = ctx.sign(FEDERATED_AUDIENCE)
        out.sensitive.add(token)
        path = out.add_file(FEDERATED_TOKEN_FILE, token)
        out.set_env("ARM_OIDC_TOKEN_FILE_PATH", path)
        out.set_env("AZURE_FEDERATED_TOKEN_FILE", path)
        refresher = RefreshingFile(FEDERATED_TOKEN_FILE, lambda: ctx.sign(FEDERATED_AUDIENCE), ctx.refresh_interval)
        return RunSetup(out, [refresher])

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
