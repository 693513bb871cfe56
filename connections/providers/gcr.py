"""Google Container Registry / Artifact Registry: reached with the credentials of a GCP connection."""

from __future__ import annotations

import re
from typing import Any

from .base import AuthMethod, CloudConnectionProvider, Field, FieldError, Materialized

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

    def _own_materialized(
        self, config: dict[str, Any], *, ref: Materialized, ref_config: dict[str, Any]
    ) -> Materialized:
        out = Materialized()
        out.set_env("GCR_REGISTRY", config["registry_url"])
        return out
