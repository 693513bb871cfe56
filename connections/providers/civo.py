"""Civo: an account API key."""

from __future__ import annotations

from typing import Any

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider

REGION_CHOICES = (("LON1", "London"), ("NYC1", "New York"), ("FRA1", "Frankfurt"), ("PHX1", "Phoenix"))


class CivoProvider(Provider):
    """Civo account connection through an API key."""

    code = "civo"
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
