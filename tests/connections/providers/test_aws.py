"""Amazon Web Services (connections/providers/aws/: provider, clients, identity): the check with an access
key, an assumed role (External ID, platform identity) or web identity, against moto in server mode;
the trust policy; materialization."""

from __future__ import annotations

from pathlib import Path

from botocore.stub import Stubber

from connections.providers import aws as aws_module
from connections.providers import get_provider
from connections.providers.aws import clients as aws_clients
from connections.providers.aws import identity as aws_identity
from tests.connections.providers.checks_cloud import (
    EXTERNAL_ID,
    OTHER_ACCOUNT,
    assert_clean,
    example,
    failed_check,
    issuer,  # noqa: F401
    make_ctx,
    record_boto_calls,  # noqa: F401
    run_check,
)
from tests.connections.providers.conftest import cleaned, materialized
from tests.fakes.moto_server import (
    MOTO_ACCOUNT_ID,
    moto,  # noqa: F401
    moto_server,  # noqa: F401
)


def test_aws_access_key_names_the_caller(moto):
    config, secrets_ = example("aws", "access_key")
    ctx = make_ctx("aws-keys")

    result = run_check("aws", "access_key", config, secrets_, ctx)

    assert result.message == f"Authenticated as arn:aws:sts::{MOTO_ACCOUNT_ID}:user/moto."
    assert result.details["account_id"] == MOTO_ACCOUNT_ID


def test_aws_access_key_in_another_account_fails(moto):
    config, secrets_ = example("aws", "access_key")
    config["account_id"] = "210987654321"

    failure = failed_check("aws", "access_key", config, secrets_, make_ctx("aws-keys"))

    assert failure.reason == (
        f"The credentials belong to account {MOTO_ACCOUNT_ID}, not the declared account 210987654321."
    )


def test_aws_assume_role_uses_the_external_id_and_platform_identity(moto):
    config, secrets_ = example("aws", "assume_role")
    role_arn = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/PlatformRunner"
    ctx = make_ctx("aws-prod", role_arn=role_arn)

    result = run_check("aws", "assume_role", config, secrets_, ctx)

    assert result.message.startswith(f"Assumed arn:aws:sts::{MOTO_ACCOUNT_ID}:assumed-role/PlatformRunner/")
    params = ctx.params_of("AssumeRole")
    assert params["RoleArn"] == role_arn
    assert params["ExternalId"] == EXTERNAL_ID
    assert params["RoleSessionName"] == "platform-check-acme-aws-prod"
    assert params["DurationSeconds"] == 900


def test_aws_assume_role_prefers_a_role_arn_in_config(moto):
    config, secrets_ = example("aws", "assume_role")
    config["role_arn"] = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/FromConfig"
    ctx = make_ctx("aws-prod", role_arn=f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/FromContext")

    run_check("aws", "assume_role", config, secrets_, ctx)

    assert ctx.params_of("AssumeRole")["RoleArn"].endswith(":role/FromConfig")


def test_aws_assume_role_without_a_role_asks_for_one(moto):
    config, secrets_ = example("aws", "assume_role")

    failure = failed_check("aws", "assume_role", config, secrets_, make_ctx("aws-prod"))

    assert failure.reason == "Add a connection role (an IAM role ARN) before testing an assume-role connection."


def test_aws_assume_role_in_another_account_fails_before_calling_sts(moto):
    config, secrets_ = example("aws", "assume_role")
    ctx = make_ctx("aws-prod", role_arn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/Runner")

    failure = failed_check("aws", "assume_role", config, secrets_, ctx)

    assert failure.reason == f"The role belongs to account {OTHER_ACCOUNT}, not the declared account {MOTO_ACCOUNT_ID}."
    assert ctx.calls == []


def test_aws_web_identity_exchanges_a_platform_assertion(moto, issuer):
    config, secrets_ = example("aws", "web_identity")
    ctx = make_ctx("aws-oidc", issuer=issuer)

    result = run_check("aws", "web_identity", config, secrets_, ctx)

    assert result.message.startswith(f"Assumed arn:aws:sts::{MOTO_ACCOUNT_ID}:assumed-role/Tf/")
    assert issuer.signed == [("sts.amazonaws.com", "org:acme:connection:aws-oidc")]
    params = ctx.params_of("AssumeRoleWithWebIdentity")
    assert params["RoleArn"] == config["role_arn"]
    assert_clean(result, {"token": params["WebIdentityToken"]})


def test_aws_web_identity_without_an_issuer_fails(moto):
    config, secrets_ = example("aws", "web_identity")

    failure = failed_check("aws", "web_identity", config, secrets_, make_ctx("aws-oidc"))

    assert "OIDC issuer is not configured" in failure.reason


def test_trust_policy_requires_the_external_id():
    policy = aws_module.trust_policy("111122223333", EXTERNAL_ID)

    (statement,) = policy["Statement"]
    assert policy["Version"] == "2012-10-17"
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}


def test_platform_account_id_configured_else_from_sts(moto, monkeypatch, settings):
    monkeypatch.setattr(aws_identity, "_from_sts", None)
    settings.PLATFORM_AWS_ACCOUNT_ID = "111122223333"
    assert aws_module.platform_account_id() == "111122223333"

    settings.PLATFORM_AWS_ACCOUNT_ID = ""
    assert aws_module.platform_account_id() == MOTO_ACCOUNT_ID
    assert aws_identity._from_sts == MOTO_ACCOUNT_ID  # cached for the process


def test_aws_assume_role_access_denied_attaches_the_trust_policy(moto, settings):
    """moto enforces trust policies only in its IAM-auth mode, so the AccessDenied comes from a stubbed STS."""

    config, secrets_ = example("aws", "assume_role")
    role_arn = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/PlatformRunner"
    ctx = make_ctx("aws-prod", role_arn=role_arn)
    settings.PLATFORM_AWS_ACCOUNT_ID = "111122223333"
    sts = aws_clients.client("sts", region=config["region"], timeout=ctx.timeout)
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "AccessDenied", "Not authorized to perform sts:AssumeRole", 403)
        failure = failed_check("aws", "assume_role", config, secrets_, ctx)

    assert failure.reason.startswith("AccessDenied: Not authorized to perform sts:AssumeRole Check that the trust")
    assert failure.details["trust_policy"] == aws_module.trust_policy("111122223333", EXTERNAL_ID)


# --- Materialization ------------------------------------------------------------------------------


def test_aws_values_and_session_token() -> None:
    env = materialized("aws", "access_key").env
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAIOSFODNN7EXAMPLE"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert "AWS_SESSION_TOKEN" not in env
    config, _ = cleaned("aws", "assume_role")
    temporary = {"access_key_id": "ASIAIOSFODNN7EXAMPLE", "secret_access_key": "s" * 40, "session_token": "tok"}
    env = get_provider("aws").materialize("assume_role", config, temporary).env
    assert env["AWS_ACCESS_KEY_ID"] == "ASIAIOSFODNN7EXAMPLE"
    assert env["AWS_SESSION_TOKEN"] == "tok"


def test_aws_web_identity_token_file(tmp_path: Path) -> None:
    config, _ = cleaned("aws", "web_identity")
    out = get_provider("aws").materialize("web_identity", config, {"web_identity_token": "jwt.jwt.jwt"})
    env = out.write(tmp_path)
    assert Path(env["AWS_WEB_IDENTITY_TOKEN_FILE"]).read_text() == "jwt.jwt.jwt"
    assert env["AWS_ROLE_ARN"] == config["role_arn"]
