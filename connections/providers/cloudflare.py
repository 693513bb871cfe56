"""Cloudflare: a scoped API token (never the global API key)."""

from __future__ import annotations

from typing import Any

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider


class CloudflareProvider(Provider):
    """Cloudflare account connection through an API token."""

    code = "cloudflare"
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
