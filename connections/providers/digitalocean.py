"""DigitalOcean: a personal access token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider
from .contract import CheckContext, CheckResult
from .httpcheck import CheckClient, json_or_empty, text_field

REGION_CHOICES = tuple(
    (code, label)
    for code, label in (
        ("nyc1", "New York 1"), ("nyc2", "New York 2"), ("nyc3", "New York 3"), ("sfo2", "San Francisco 2"),
        ("sfo3", "San Francisco 3"), ("tor1", "Toronto 1"), ("atl1", "Atlanta 1"), ("ams3", "Amsterdam 3"),
        ("lon1", "London 1"), ("fra1", "Frankfurt 1"), ("sgp1", "Singapore 1"), ("blr1", "Bangalore 1"),
        ("syd1", "Sydney 1"),
    )
)  # fmt: skip


class DigitalOceanProvider(Provider):
    """DigitalOcean team connection through an API token."""

    code = "digitalocean"
    terraform_prefixes = ("digitalocean_",)
    resource_kinds = ("DigitalOcean", "Droplet", "DOKS", "DigitalOcean Kubernetes", "DigitalOcean Spaces")
    endpoints = {
        "digitalocean": "https://api.digitalocean.com",
    }
    label = "DigitalOcean"
    category = "cloud"
    description = "DigitalOcean teams through a personal access token."
    icon = "DO"
    color = "#0080ff"
    test_description = "GET /v2/account."
    auth_methods = (AuthMethod("api_token", "API token", "A personal access token with the scopes your runs need."),)
    fields = (
        Field("region", "Default region", "choice", required=False, choices=REGION_CHOICES),
        Field(
            "token", "API token", "string", secret=True, validators=(v.digitalocean_token,), placeholder="dop_v1_..."
        ),
    )
    summary_fields = ("region",)

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
        out.set_secret_env("DIGITALOCEAN_TOKEN", secrets["token"])
        out.set_secret_env("DIGITALOCEAN_ACCESS_TOKEN", secrets["token"])  # doctl's name
        if config.get("region"):
            out.set_env("DIGITALOCEAN_REGION", config["region"])
        return out

    def check(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: CheckContext
    ) -> CheckResult:
        """``GET /v2/account`` with the token; a locked account fails even though the token is valid.

        A locked account (billing, abuse) accepts the token but refuses to create anything, so a run
        would fail later with a less helpful error: DigitalOcean's ``status_message`` says why.
        """
        client = CheckClient(
            ctx, "DigitalOcean", secrets=secrets, headers={"Authorization": f"Bearer {secrets['token']}"}
        )
        response = client.call("GET", f"{ctx.endpoint('digitalocean')}/v2/account")
        body = json_or_empty(response)
        if response.status != 200:
            message = text_field(body, "message")
            if response.status in (401, 403):
                raise client.failed(message or "Unable to authenticate you")
            raise client.unexpected(response, message)
        account = body.get("account") if isinstance(body, Mapping) else None
        if not isinstance(account, Mapping):
            raise client.failed("DigitalOcean answered without account information.")
        email, status = text_field(account, "email"), text_field(account, "status")
        if status == "locked":
            raise client.failed(text_field(account, "status_message") or "The DigitalOcean account is locked.")
        team = account.get("team") if isinstance(account.get("team"), Mapping) else {}
        details = {"email": email, "status": status, "team": text_field(team, "name") or None}
        return client.result(f"Authenticated to DigitalOcean as {email} (account {status}).", details)
