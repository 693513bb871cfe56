"""Terraform state in Google Cloud Storage, reached with a GCP connection's credentials."""

from __future__ import annotations

import secrets as _random
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from core.masking import scrub

from . import validators as v
from .base import AuthMethod, CloudConnectionProvider, Field, Materialized
from .contract import CheckFailed, CheckResult
from .gcp import google_error, google_request, referenced_token


class GcsBackendProvider(CloudConnectionProvider):
    """GCS state backend: stores no secret; the GCP connection's credentials read and write the state."""

    code = "gcs_backend"
    endpoints = {
        "gcp_storage": "https://storage.googleapis.com",
    }
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

    def check(self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any) -> CheckResult:
        """Get the bucket, then upload and delete a marker object under the prefix (JSON API).

        Terraform writes state at the end of an apply, so read access alone would pass a test that
        the first run then fails; the marker's random name keeps concurrent tests apart.
        """

        token, _ref_config = referenced_token(ctx)
        storage = ctx.endpoint("gcp_storage")
        bucket = str(config["bucket"])
        quoted_bucket = quote(bucket, safe="")
        response = google_request(
            ctx, "GET", f"{storage}/storage/v1/b/{quoted_bucket}", what="Cloud Storage", token=token
        )
        if response.status == 404:
            raise CheckFailed(f"The bucket {bucket} does not exist.")
        if response.status != 200:
            raise CheckFailed(f"Bucket {bucket}: {scrub(google_error(response), token)}")
        name = v.join_object_key(config.get("key_prefix"), f".platform-write-check-{_random.token_hex(8)}")
        upload = f"{storage}/upload/storage/v1/b/{quoted_bucket}/o?{urlencode({'uploadType': 'media', 'name': name})}"
        headers = {"Content-Type": "text/plain"}
        response = google_request(ctx, "POST", upload, what="Cloud Storage", token=token, headers=headers, body=b"")
        if response.status != 200:
            raise CheckFailed(f"Cannot write gs://{bucket}/{name}: {scrub(google_error(response), token)}")
        delete = f"{storage}/storage/v1/b/{quoted_bucket}/o/{quote(name, safe='')}"
        response = google_request(ctx, "DELETE", delete, what="Cloud Storage", token=token)
        if response.status not in (200, 204):
            reason = scrub(google_error(response), token)
            raise CheckFailed(f"Wrote gs://{bucket}/{name} but cannot delete it (remove it by hand): {reason}")
        where = f"gs://{bucket}/{config.get('key_prefix') or ''}"
        return CheckResult(f"Bucket reachable and {where} writable.", details={"bucket": bucket})

    def _own_materialized(
        self, config: dict[str, Any], *, ref: Materialized, ref_config: dict[str, Any]
    ) -> Materialized:
        out = Materialized()
        out.set_env("TF_BACKEND_BUCKET", config["bucket"])
        out.set_env("TF_BACKEND_KEY_PREFIX", config.get("key_prefix") or "")
        return out
