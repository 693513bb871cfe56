"""Terraform state in S3 (with optional DynamoDB locking), reached with an AWS connection's credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import validators as v
from .base import AuthMethod, CloudConnectionProvider, Field, Materialized


class S3BackendProvider(CloudConnectionProvider):
    """S3 state backend: stores no secret; the AWS connection's credentials read and write the state."""

    code = "s3_backend"
    label = "Amazon S3 state backend"
    category = "state_backend"
    description = "Terraform state in an S3 bucket, with optional DynamoDB state locking."
    icon = "S3"
    color = "#569a31"
    test_description = "Bucket reachable and a test object writable under the key prefix."
    auth_methods = (
        AuthMethod(
            "cloud_connection", "AWS connection", "Use the credentials of an AWS connection.", stores_secret=False
        ),
    )
    fields = (
        Field("cloud_connection", "AWS connection", "connection_ref", ref_providers=("aws",)),
        Field("bucket", "Bucket", "string", validators=(v.s3_bucket,)),
        Field("region", "Bucket region", "string", validators=(v.aws_region,), placeholder="us-east-1"),
        Field("key_prefix", "Key prefix", "string", required=False, validators=(v.key_prefix,),
              placeholder="terraform/state", help_text="Folder for state files, without a leading slash."),
        Field("dynamodb_table", "DynamoDB lock table", "string", required=False, validators=(v.dynamodb_table,)),
    )  # fmt: skip
    summary_fields = ("bucket", "region", "key_prefix")

    def backend_config(self, config: Mapping[str, Any], *, state_name: str = "") -> dict[str, str]:
        """``-backend-config`` pairs; `state_name` (e.g. ``production/network``) places one project's state."""
        result = {
            "bucket": config["bucket"],
            "region": config["region"],
            "key": v.join_object_key(config.get("key_prefix"), state_name, "terraform.tfstate"),
            "encrypt": "true",
        }
        if config.get("dynamodb_table"):
            result["dynamodb_table"] = config["dynamodb_table"]
        return result

    def _own_materialized(
        self, config: dict[str, Any], *, ref: Materialized, ref_config: dict[str, Any]
    ) -> Materialized:
        out = Materialized()
        out.set_env("TF_BACKEND_BUCKET", config["bucket"])
        out.set_env("TF_BACKEND_REGION", config["region"])
        out.set_env("TF_BACKEND_KEY_PREFIX", config.get("key_prefix") or "")
        if config.get("dynamodb_table"):
            out.set_env("TF_BACKEND_DYNAMODB_TABLE", config["dynamodb_table"])
        return out
