"""ECR (connections/providers/ecr.py): the check gets a registry token with the referenced AWS connection's
credentials, against moto in server mode."""

from __future__ import annotations

import json

from connections.providers import get_provider
from tests.connections.providers.checks_cloud import (
    EXTERNAL_ID,
    aws_ref,
    example,
    failed_check,
    make_ctx,
    record_boto_calls,  # noqa: F401
    run_check,
)
from tests.connections.providers.conftest import cleaned, materialize_example
from tests.fakes.moto_server import (
    MOTO_ACCOUNT_ID,
    moto,  # noqa: F401
    moto_server,  # noqa: F401
)


def test_ecr_gets_an_authorization_token(moto):
    config, secrets_ = example("ecr", "cloud_connection")
    ctx = make_ctx("ecr-prod", ref=aws_ref())

    result = run_check("ecr", "cloud_connection", config, secrets_, ctx)

    assert result.message == f"Registry login works for https://{MOTO_ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com."
    assert "authorizationToken" not in json.dumps(result.details)


def test_ecr_with_an_assume_role_connection_assumes_its_role_first(moto):
    config, secrets_ = example("ecr", "cloud_connection")
    role_arn = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Registry"
    ctx = make_ctx("ecr-prod", ref=aws_ref("assume_role", role_arn=role_arn))

    run_check("ecr", "cloud_connection", config, secrets_, ctx)

    assert ctx.params_of("AssumeRole")["ExternalId"] == EXTERNAL_ID
    assert ctx.params_of("AssumeRole")["RoleArn"] == role_arn


def test_ecr_with_a_connection_in_another_account_fails(moto):
    config, secrets_ = example("ecr", "cloud_connection")
    ctx = make_ctx("ecr-prod", ref=aws_ref(account_id="210987654321"))

    failure = failed_check("ecr", "cloud_connection", config, secrets_, ctx)

    assert "not the declared account 210987654321" in failure.reason


# --- Materialization ------------------------------------------------------------------------------


def test_ecr_region_override_and_registry() -> None:
    out = materialize_example("ecr", "cloud_connection")
    assert out.env["AWS_REGION"] == "eu-west-1"
    assert out.env["ECR_REGISTRY"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert out.env["AWS_ACCESS_KEY_ID"] == "AKIAIOSFODNN7EXAMPLE"  # from the referenced AWS connection
    # Without a region of its own, ECR follows the referenced connection.
    ref_config, ref_secrets = cleaned("aws", "access_key")
    ref = get_provider("aws").materialize("access_key", {**ref_config, "region": "ap-southeast-5"}, ref_secrets)
    out = get_provider("ecr").materialize(
        "cloud_connection",
        {"cloud_connection": "aws-production"},
        {},
        ref=ref,
        ref_config={**ref_config, "region": "ap-southeast-5"},
    )
    assert out.env["AWS_REGION"] == "ap-southeast-5"
    assert out.env["ECR_REGISTRY"] == "123456789012.dkr.ecr.ap-southeast-5.amazonaws.com"
