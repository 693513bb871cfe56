"""Terraform state in Google Cloud Storage, reached with a GCP connection's credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import validators as v
from .base import AuthMethod, CloudConnectionProvider, Field, Materialized


class GcsBackendProvider(CloudConnectionProvider):
    """GCS state backend: stores no secret; the GCP connection's credentials read and write the state."""

    code = "gcs_backend"
    label = "Google Cloud Storage state backend"
    category = "state_backend"
    description = "Terraform state in a Cloud Storage bucket (GCS locks state natively)."
    icon = "GCS"
    color = "#4285f4"
    test_description = "Bucket reachable and a test object writable under the prefix."
    auth_methods = (
        AuthMethod(
            "cloud_connection", "GCP connection", "Use the credentials of a GCP connection.", stores_secret=False
        ),
    )
    fields = (
        Field("cloud_connection", "GCP connection", "connection_ref", ref_providers=("gcp",)),
        Field("bucket", "Bucket", "string", validators=(v.gcs_bucket,)),
        Field("key_prefix", "Prefix", "string", required=False, validators=(v.key_prefix,),
              placeholder="terraform/state", help_text="Folder for state files, without a leading slash."),
    )  # fmt: skip
    summary_fields = ("bucket", "key_prefix")

    def backend_config(self, config: Mapping[str, Any], *, state_name: str = "") -> dict[str, str]:
        """``-backend-config`` pairs; the GCS backend's ``prefix`` is a folder holding ``<workspace>.tfstate``."""
        result = {"bucket": config["bucket"]}
        prefix = v.join_object_key(config.get("key_prefix"), state_name)
        if prefix:
            result["prefix"] = prefix
        return result

    def _own_materialized(
        self, config: dict[str, Any], *, ref: Materialized, ref_config: dict[str, Any]
    ) -> Materialized:
        out = Materialized()
        out.set_env("TF_BACKEND_BUCKET", config["bucket"])
        out.set_env("TF_BACKEND_KEY_PREFIX", config.get("key_prefix") or "")
        return out
