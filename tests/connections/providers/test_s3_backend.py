"""The S3 state backend (connections/providers/s3_backend.py): the check reaches the bucket and writes under the
prefix with the referenced AWS connection's credentials, against moto in server mode."""

from __future__ import annotations

from typing import Any

import boto3

from connections.providers import get_provider
from tests.connections.providers.checks_cloud import (
    aws_ref,
    example,
    failed_check,
    make_ctx,
    record_boto_calls,  # noqa: F401
    run_check,
)
from tests.connections.providers.conftest import cleaned, materialize_example
from tests.fakes.moto_server import (
    moto,  # noqa: F401
    moto_server,  # noqa: F401
)


def _create_bucket(name: str, region: str) -> Any:
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    return s3


def test_s3_backend_bucket_reachable_and_prefix_writable(moto):
    config, secrets_ = example("s3_backend", "cloud_connection")
    s3 = _create_bucket(config["bucket"], config["region"])
    ctx = make_ctx("tf-state", ref=aws_ref())

    result = run_check("s3_backend", "cloud_connection", config, secrets_, ctx)

    assert result.message == "Bucket reachable and s3://acme-terraform-state/platform writable."
    written = ctx.params_of("PutObject")["Key"]
    assert written.startswith("platform/.platform-write-check-")
    assert ctx.params_of("DeleteObject")["Key"] == written
    assert s3.list_objects_v2(Bucket=config["bucket"]).get("KeyCount") == 0


def test_s3_backend_missing_bucket_fails(moto):
    config, secrets_ = example("s3_backend", "cloud_connection")

    failure = failed_check("s3_backend", "cloud_connection", config, secrets_, make_ctx("tf-state", ref=aws_ref()))

    assert failure.reason == "The bucket acme-terraform-state does not exist."


# --- Materialization ------------------------------------------------------------------------------


def test_s3_backend_config() -> None:
    config, _ = cleaned("s3_backend", "cloud_connection")
    assert get_provider("s3_backend").backend_config(config, state_name="production/network") == {
        "bucket": "acme-terraform-state",
        "region": "eu-west-1",
        "key": "platform/production/network/terraform.tfstate",
        "encrypt": "true",
        "dynamodb_table": "terraform-locks",
    }
    env = materialize_example("s3_backend", "cloud_connection").env
    assert (env["TF_BACKEND_BUCKET"], env["TF_BACKEND_REGION"], env["TF_BACKEND_KEY_PREFIX"]) == (
        "acme-terraform-state",
        "eu-west-1",
        "platform",
    )
