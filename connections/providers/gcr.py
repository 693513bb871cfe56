"""Google Container Registry / Artifact Registry: reached with the credentials of a GCP connection."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from core.masking import scrub

from .base import AuthMethod, CloudConnectionProvider, Field, FieldError, Materialized, MaterializeError, b64
from .contract import CheckFailed, CheckResult
from .dockerhub import DOCKER_CONFIG_FILE
from .gcp import access_token, google_error, google_request, referenced_token, run_check_context
from .run import RunSetup

GCR_HOSTS = ("gcr.io", "us.gcr.io", "eu.gcr.io", "asia.gcr.io")
_ARTIFACT_REGISTRY = re.compile(r"^[a-z]+(?:-[a-z]+\d+)?-docker\.pkg\.dev$")


def gcr_registry_url(value: Any) -> str:
    """A Container Registry host or an Artifact Registry Docker host (``<location>-docker.pkg.dev``)."""
    value = str(value).strip().removeprefix("https://").rstrip("/").lower()
    if value in GCR_HOSTS or _ARTIFACT_REGISTRY.match(value):
        return value
    raise FieldError(
        f"Must be one of {', '.join(GCR_HOSTS)} or LOCATION-docker.pkg.dev (e.g. europe-west1-docker.pkg.dev)."
    )


class GcrProvider(CloudConnectionProvider):
    """GCR connection: stores no secret; borrows a GCP connection's credentials at run time."""

    code = "gcr"
    endpoints = {
        "gcr_token": "https://gcr.io/v2/token",
    }
    label = "Google Container Registry"
    category = "registry"
    description = "Google Container Registry or Artifact Registry, through one of your GCP connections."
    icon = "GCR"
    color = "#4285f4"
    test_description = "Registry login with a token of the GCP connection."
    auth_methods = (
        AuthMethod(
            "cloud_connection", "GCP connection", "Use the credentials of a GCP connection.", stores_secret=False
        ),
    )
    fields = (
        Field("cloud_connection", "GCP connection", "connection_ref", ref_providers=("gcp",),
              help_text="Name of the GCP connection whose credentials reach the registry."),
        Field("registry_url", "Registry", "string", default="gcr.io", validators=(gcr_registry_url,),
              placeholder="gcr.io",
              help_text="gcr.io, us.gcr.io, eu.gcr.io, asia.gcr.io, or LOCATION-docker.pkg.dev for Artifact Registry."),
    )  # fmt: skip
    summary_fields = ("cloud_connection", "registry_url")

    def check(self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any) -> CheckResult:
        """Registry login as ``docker login -u oauth2accesstoken`` does it, against the registry's token service.

        The GCP connection's access token is the password; the registry's token service answers 200 with
        a registry token only if Google accepts it, which is what every push and pull will rely on.
        A pull scope on the project's namespace is requested, like a client about to pull; the returned
        registry token is discarded.
        """

        token, ref_config = referenced_token(ctx)
        registry = str(config.get("registry_url") or "gcr.io")
        project = str(ref_config.get("project_id") or "")
        params = {"service": registry, "scope": f"repository:{project}/platform-check:pull"}
        url = f"{token_endpoint(registry, ctx)}?{urlencode(params)}"
        basic = base64.b64encode(f"oauth2accesstoken:{token}".encode()).decode()
        response = google_request(ctx, "GET", url, what=registry, headers={"Authorization": f"Basic {basic}"})
        if response.status != 200:
            raise CheckFailed(
                f"{registry} refused the GCP connection's credentials: {scrub(_registry_error(response), token)}"
            )
        return CheckResult(f"Registry login to {registry} works.", details={"registry": registry, "project": project})

    def run_setup(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any, *, ref: Any = None
    ) -> Any:
        """A docker ``config.json`` for the registry: user ``oauth2accesstoken``, password an access token of
        the GCP connection (google-auth for a key; STS and impersonation for workload identity), on top of
        that connection's own run credentials. The access token lasts an hour."""
        if ref is None:
            raise MaterializeError("Google Container Registry: set up the GCP connection's run credentials first.")
        config = self._with_defaults(auth_method, config)
        try:
            token, _identity = access_token(ref.auth_method, ref.config, ref.secrets, run_check_context(ctx))
        except CheckFailed as exc:
            raise MaterializeError(exc.reason) from None
        registry = str(config["registry_url"])
        auth = b64(f"oauth2accesstoken:{token}")
        own = self._own_materialized(config, ref=ref.setup.materialized, ref_config=ref.config)
        own.sensitive.update({auth, token})
        own.add_file(DOCKER_CONFIG_FILE, json.dumps({"auths": {registry: {"auth": auth}}}, indent=2))
        own.set_env("DOCKER_CONFIG", "{dir:docker}")
        return RunSetup(ref.setup.materialized.merged(own), list(ref.setup.services), ref.setup.session_credentials)

    def _own_materialized(
        self, config: dict[str, Any], *, ref: Materialized, ref_config: dict[str, Any]
    ) -> Materialized:
        out = Materialized()
        out.set_env("GCR_REGISTRY", config["registry_url"])
        return out


def token_endpoint(registry: str, ctx: Any) -> str:
    """The registry's Docker token service: ``https://<registry>/v2/token``, unless redirected by configuration.

    Each registry host (gcr.io, eu.gcr.io, LOCATION-docker.pkg.dev) has its own token service, so only
    an explicitly configured ``gcr_token`` endpoint (tests, air-gapped mirrors) replaces it.
    """
    configured = ctx.endpoint("gcr_token")
    if configured != GcrProvider.endpoints["gcr_token"]:
        return configured
    return f"https://{registry}/v2/token"


def _registry_error(response: Any) -> str:
    """Docker registry errors are ``{"errors": [{"code", "message"}]}``; fall back to Google's formats."""

    try:
        errors = response.json().get("errors")
    except Exception:  # not JSON at all: google_error reports the status
        errors = None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return ": ".join(str(part) for part in (first.get("code"), first.get("message")) if part)
    return google_error(response)
