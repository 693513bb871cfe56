"""Cloudflare: a scoped API token (never the global API key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from core.netguard import GuardedResponse

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider
from .contract import CheckContext, CheckResult
from .httpcheck import CheckClient, json_or_empty, text_field


def _first_error(body: Any) -> str:
    """Cloudflare's ``errors[0].message``: every v4 answer carries its errors in that list."""
    errors = body.get("errors") if isinstance(body, Mapping) else None
    return text_field(errors[0], "message") if isinstance(errors, list) and errors else ""


def _result(body: Any) -> Mapping[str, Any]:
    result = body.get("result") if isinstance(body, Mapping) else None
    return result if isinstance(result, Mapping) else {}


class CloudflareProvider(Provider):
    """Cloudflare account connection through an API token."""

    code = "cloudflare"
    terraform_prefixes = ("cloudflare_",)
    resource_kinds = ("Cloudflare", "DNS record", "Cloudflare Worker", "Cloudflare R2")
    endpoints = {
        "cloudflare": "https://api.cloudflare.com/client/v4",
    }
    label = "Cloudflare"
    category = "cloud"
    description = "Cloudflare accounts through a scoped API token."
    icon = "CF"
    color = "#f38020"
    test_description = "GET /client/v4/user/tokens/verify."
    auth_methods = (AuthMethod("api_token", "API token", "A scoped API token (not the Global API Key)."),)
    fields = (
        Field("account_id", "Account ID", "string", validators=(v.cloudflare_account_id,),
              help_text="32 hexadecimal characters, shown on the account's overview page."),
        Field("token", "API token", "string", secret=True, validators=(v.token_min_length(40),)),
    )  # fmt: skip
    summary_fields = ("account_id",)

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
        out.set_secret_env("CLOUDFLARE_API_TOKEN", secrets["token"])
        out.set_env("CLOUDFLARE_ACCOUNT_ID", config["account_id"])
        return out

    def check(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: CheckContext
    ) -> CheckResult:
        """``GET /user/tokens/verify``, then ``GET /accounts/{account_id}`` with the same token.

        Verify answers ``success: true`` even for a disabled or expired token, so the token's
        ``status`` must be ``active`` too; the account call proves the token is scoped to the account
        runs will use.
        """
        base = ctx.endpoint("cloudflare")
        client = CheckClient(
            ctx, "Cloudflare", secrets=secrets, headers={"Authorization": f"Bearer {secrets['token']}"}
        )
        response = client.call("GET", f"{base}/user/tokens/verify")
        body = json_or_empty(response)
        status = text_field(_result(body), "status")
        if not self._succeeded(response, body) or status != "active":
            raise client.failed(_first_error(body) or f"The API token is {status or 'not valid'}.")
        details: dict[str, Any] = {
            "token_status": status,
            "token_expires_on": text_field(_result(body), "expires_on") or None,
        }
        account_id = config.get("account_id")
        if account_id:
            details["account_name"] = self._account_name(client, base, account_id)
        where = f" for account {details['account_name'] or account_id}" if account_id else ""
        return client.result(f"Cloudflare API token is active{where}.", details)

    @staticmethod
    def _succeeded(response: GuardedResponse, body: Any) -> bool:
        return response.status == 200 and isinstance(body, Mapping) and body.get("success") is True

    def _account_name(self, client: CheckClient, base: str, account_id: str) -> str:
        response = client.call("GET", f"{base}/accounts/{quote(account_id, safe='')}")
        body = json_or_empty(response)
        if not self._succeeded(response, body):
            reason = _first_error(body) or f"HTTP {response.status}"
            raise client.failed(f"Account {account_id} is not accessible with this token ({reason}).")
        return text_field(_result(body), "name")
