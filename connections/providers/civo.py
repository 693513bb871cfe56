"""Civo: an account API key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider
from .contract import CheckContext, CheckResult
from .httpcheck import CheckClient, json_or_empty, text_field

REGION_CHOICES = (("LON1", "London"), ("NYC1", "New York"), ("FRA1", "Frankfurt"), ("PHX1", "Phoenix"))


class CivoProvider(Provider):
    """Civo account connection through an API key."""

    code = "civo"
    terraform_prefixes = ("civo_",)
    resource_kinds = ("Civo", "Civo Kubernetes")
    endpoints = {
        "civo": "https://api.civo.com",
    }
    label = "Civo"
    category = "cloud"
    description = "Civo accounts through an API key."
    icon = "CV"
    color = "#239dff"
    test_description = "GET /v2/regions with the key."
    auth_methods = (AuthMethod("api_token", "API key", "The API key from Settings > Profile > Security."),)
    fields = (
        Field("region", "Default region", "choice", default="LON1", choices=REGION_CHOICES),
        Field("token", "API key", "string", secret=True, validators=(v.token_min_length(20),)),
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
        out.set_secret_env("CIVO_TOKEN", secrets["token"])
        out.set_env("CIVO_REGION", config["region"])
        return out

    def check(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: CheckContext
    ) -> CheckResult:
        """``GET /v2/regions`` with the key; the connection's default region must be one of them.

        Civo documents the lowercase ``bearer`` scheme, kept as written. Listing regions is the cheapest
        authenticated call, and a default region the account cannot use would fail every run.
        """
        client = CheckClient(ctx, "Civo", secrets=secrets, headers={"Authorization": f"bearer {secrets['token']}"})
        response = client.call("GET", f"{ctx.endpoint('civo')}/v2/regions")
        body = json_or_empty(response)
        if response.status != 200:
            message = text_field(body, "reason", "message", "code")
            if response.status in (401, 403):
                raise client.failed(message or "The API key provided is invalid")
            raise client.unexpected(response, message)
        if not isinstance(body, list):
            raise client.failed("Civo answered without a list of regions.")
        codes = [str(item["code"]) for item in body if isinstance(item, Mapping) and item.get("code")]
        region = str(config.get("region") or "")
        if region and region.upper() not in {code.upper() for code in codes}:
            raise client.failed(f"Region {region} is not available to this account (available: {', '.join(codes)}).")
        return client.result(f"Civo API key is valid; {len(codes)} regions available.", {"regions": codes})
