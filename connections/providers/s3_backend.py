"""Terraform state in S3 (with optional DynamoDB locking), reached with an AWS connection's credentials."""

from __future__ import annotations

import secrets as _random
from collections.abc import Mapping
from typing import Any

from . import validators as v
from .aws.provider import aws_call, clients, referenced_credentials
from .base import AuthMethod, CloudConnectionProvider, Field, Materialized
from .contract import CheckFailed, CheckResult


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

    def check(self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any) -> CheckResult:
        """HeadBucket, then write and delete a marker object under the prefix with the AWS connection's credentials.

        Reading the bucket is not enough: Terraform fails at the end of an apply if it cannot write the
        state, which is the worst moment to find out. The marker has a random name so concurrent tests
        never collide, and it is deleted at once.
        """
        credentials, _ref_config = referenced_credentials(ctx)
        bucket, region = str(config["bucket"]), str(config["region"])
        s3 = clients.client("s3", region=region, credentials=credentials, timeout=ctx.timeout)
        try:
            aws_call(s3.head_bucket, Bucket=bucket, secrets=credentials, what="S3 HeadBucket")
        except CheckFailed as exc:
            raise CheckFailed(_head_bucket_reason(bucket, region, exc), details=exc.details) from None
        key = v.join_object_key(config.get("key_prefix"), f".platform-write-check-{_random.token_hex(8)}")
        try:
            aws_call(s3.put_object, Bucket=bucket, Key=key, Body=b"", secrets=credentials, what="S3 PutObject")
        except CheckFailed as exc:
            raise CheckFailed(f"Cannot write to s3://{bucket}/{key}: {exc.reason}", details=exc.details) from None
        try:
            aws_call(s3.delete_object, Bucket=bucket, Key=key, secrets=credentials, what="S3 DeleteObject")
        except CheckFailed as exc:
            raise CheckFailed(
                f"Wrote s3://{bucket}/{key} but cannot delete it (remove it by hand): {exc.reason}",
                details=exc.details,
            ) from None
        where = f"s3://{bucket}/{config.get('key_prefix') or ''}"
        return CheckResult(f"Bucket reachable and {where} writable.", details={"bucket": bucket, "region": region})

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


def _head_bucket_reason(bucket: str, region: str, exc: Any) -> str:
    """HeadBucket errors carry only an HTTP status as code (no body), so say what each one means."""
    code = exc.details.get("aws_error_code")
    if code in ("404", "NoSuchBucket"):
        return f"The bucket {bucket} does not exist."
    if code in ("403", "AccessDenied"):
        return f"Access to the bucket {bucket} is denied for the AWS connection's identity."
    if code in ("301", "PermanentRedirect"):
        return f"The bucket {bucket} is not in {region}."
    return exc.reason
