"""Amazon Web Services: static access keys, cross-account role assumption, or OIDC web identity."""

from __future__ import annotations

from typing import Any

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider, ProviderValidationError

_SECRET_ACCESS_KEY = "secret_access_key"


class AwsProvider(Provider):
    """AWS account connection.

    ``assume_role`` and ``web_identity`` store nothing secret: the runtime obtains temporary
    credentials (STS AssumeRole with the platform-generated ExternalId, or
    AssumeRoleWithWebIdentity) and hands them to `materialize` in ``secrets`` as
    ``access_key_id``/``secret_access_key``/``session_token``; for ``web_identity`` it may instead
    pass the OIDC token as ``web_identity_token`` and let the SDK do the exchange itself.
    """

    code = "aws"
    label = "Amazon Web Services"
    category = "cloud"
    description = "AWS accounts through access keys, a cross-account IAM role, or OIDC web identity."
    icon = "AWS"
    color = "#ff9900"
    test_description = "STS GetCallerIdentity (AssumeRole with the ExternalId for assume_role)."
    auth_methods = (
        AuthMethod("access_key", "Access key", "An IAM user's access key ID and secret access key."),
        AuthMethod(
            "assume_role",
            "Assume role",
            "The platform assumes an IAM role in your account; its trust policy must require the ExternalId "
            "shown after creation.",
            stores_secret=False,
        ),
        AuthMethod(
            "web_identity",
            "Web identity (OIDC)",
            "The platform's OIDC tokens are exchanged for the role's temporary credentials.",
            stores_secret=False,
        ),
    )
    fields = (
        Field("account_id", "Account ID", "string", validators=(v.aws_account_id,), placeholder="123456789012",
              help_text="The 12-digit AWS account ID."),
        Field("region", "Region", "string", default="us-east-1", validators=(v.aws_region,),
              help_text="Default region for runs, e.g. us-east-1."),
        Field("access_key_id", "Access key ID", "string", validators=(v.aws_access_key_id,),
              auth_methods=("access_key",), placeholder="AKIA..."),
        Field(_SECRET_ACCESS_KEY, "Secret access key", "string", secret=True, validators=(v.aws_secret_access_key,),
              auth_methods=("access_key",)),
        Field("role_arn", "Role ARN", "string", validators=(v.aws_role_arn,), auth_methods=("web_identity",),
              placeholder="arn:aws:iam::123456789012:role/TerraformRunner",
              help_text="The role whose trust policy accepts the platform's OIDC provider."),
    )  # fmt: skip
    summary_fields = ("account_id", "region")

    def external_id_required(self, auth_method: str) -> bool:
        """Assume role without an ExternalId is open to the confused-deputy problem; the platform generates one."""
        super().external_id_required(auth_method)
        return auth_method == "assume_role"

    def clean_extra(
        self, auth_method: str, config: dict[str, Any], secrets: dict[str, Any], *, partial: bool = False
    ) -> None:
        """The web identity role must live in the connection's account, or cards would lie about the account."""
        if auth_method == "web_identity" and config.get("role_arn") and config.get("account_id"):
            role_account = v.aws_role_arn_account(config["role_arn"])
            if role_account != config["account_id"]:
                raise ProviderValidationError(
                    {"role_arn": [f"The role belongs to account {role_account}, not {config['account_id']}."]}
                )

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
        region = config["region"]
        out.set_env("AWS_REGION", region)
        out.set_env("AWS_DEFAULT_REGION", region)
        key_id = config.get("access_key_id") if auth_method == "access_key" else secrets.get("access_key_id")
        if key_id and secrets.get(_SECRET_ACCESS_KEY):
            out.set_env("AWS_ACCESS_KEY_ID", key_id)
            out.set_secret_env("AWS_SECRET_ACCESS_KEY", secrets[_SECRET_ACCESS_KEY])
            if secrets.get("session_token"):
                out.set_secret_env("AWS_SESSION_TOKEN", secrets["session_token"])
        elif auth_method == "web_identity" and secrets.get("web_identity_token"):
            out.set_env("AWS_ROLE_ARN", config["role_arn"])
            out.set_env("AWS_ROLE_SESSION_NAME", secrets.get("role_session_name") or "cloudconnections")
            out.set_env(
                "AWS_WEB_IDENTITY_TOKEN_FILE", out.add_file("aws-web-identity-token", secrets["web_identity_token"])
            )
            out.sensitive.add(secrets["web_identity_token"])
        return out
