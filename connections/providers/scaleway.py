"""Scaleway: an API key (access key + secret key) scoped to an organization and optionally a project."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider
from .contract import CheckContext, CheckResult
from .httpcheck import CheckClient, json_or_empty, text_field

REGION_CHOICES = (("fr-par", "Paris"), ("nl-ams", "Amsterdam"), ("pl-waw", "Warsaw"))


class ScalewayProvider(Provider):
    """Scaleway organization connection through an IAM API key."""

    code = "scaleway"
    terraform_prefixes = ("scaleway_",)
    resource_kinds = ("Scaleway", "Kapsule", "Scaleway Instance")
    endpoints = {
        "scaleway": "https://api.scaleway.com",
    }
    label = "Scaleway"
    category = "cloud"
    description = "Scaleway organizations and projects through an IAM API key."
    icon = "SCW"
    color = "#4f0599"
    test_description = "GET the API key's own IAM record."
    auth_methods = (AuthMethod("api_token", "API key", "An IAM API key: access key and secret key."),)
    fields = (
        Field("access_key", "Access key", "string", validators=(v.scaleway_access_key,),
              placeholder="SCWXXXXXXXXXXXXXXXXX"),
        Field("organization_id", "Organization ID", "string", validators=(v.guid,)),
        Field("project_id", "Project ID", "string", required=False, validators=(v.guid,),
              help_text="Defaults to the organization's default project."),
        Field("region", "Default region", "choice", default="fr-par", choices=REGION_CHOICES),
        Field("secret_key", "Secret key", "string", secret=True, validators=(v.guid,)),
    )  # fmt: skip
    summary_fields = ("organization_id", "region")

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
        out.set_env("SCW_ACCESS_KEY", config["access_key"])
        out.set_secret_env("SCW_SECRET_KEY", secrets["secret_key"])
        out.set_env("SCW_DEFAULT_ORGANIZATION_ID", config["organization_id"])
        # An organization's default project has the organization's own ID.
        out.set_env("SCW_DEFAULT_PROJECT_ID", config.get("project_id") or config["organization_id"])
        out.set_env("SCW_DEFAULT_REGION", config["region"])
        out.set_env("SCW_DEFAULT_ZONE", f"{config['region']}-1")
        return out

    def check(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: CheckContext
    ) -> CheckResult:
        """``GET /iam/v1alpha1/api-keys/{access_key}`` authenticated with the secret key (``X-Auth-Token``).

        Reading the key's own IAM record needs no extra permission, so a 200 proves the secret key
        while a 404 means the access key typed in is not the one that secret belongs to.
        """
        access_key = config["access_key"]
        client = CheckClient(ctx, "Scaleway", secrets=secrets, headers={"X-Auth-Token": secrets["secret_key"]})
        response = client.call("GET", f"{ctx.endpoint('scaleway')}/iam/v1alpha1/api-keys/{quote(access_key, safe='')}")
        body = json_or_empty(response)
        message = text_field(body, "message")
        if response.status in (401, 403):
            raise client.failed(message or "authentication is denied")
        if response.status == 404:
            raise client.failed(f"Access key {access_key} not found ({message or 'resource is not found'}).")
        if response.status != 200:
            raise client.unexpected(response, message)
        details = {
            "access_key": text_field(body, "access_key") or access_key,
            "default_project_id": text_field(body, "default_project_id") or None,
            "expires_at": text_field(body, "expires_at") or None,
            "bearer": "application" if text_field(body, "application_id") else "user",
        }
        return client.result(f"Scaleway API key {access_key} is valid.", details)
