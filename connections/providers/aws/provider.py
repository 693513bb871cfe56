"""Amazon Web Services: static access keys, cross-account role assumption, or OIDC web identity."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core.masking import scrub

from .. import validators as v
from ..base import AuthMethod, Field, FieldError, Materialized, Provider, ProviderValidationError, federation_panel
from ..contract import CheckFailed, CheckResult, SetupUnavailable
from . import clients
from . import run as aws_run
from .identity import oidc_provider_path, platform_account_id, trust_policy, web_identity_trust_policy
from .roles import AwsRoleSupport

_SECRET_ACCESS_KEY = "secret_access_key"

#: Audience of the platform's OIDC assertion for AssumeRoleWithWebIdentity (what AWS docs tell IAM OIDC
#: providers to accept as the client ID).
WEB_IDENTITY_AUDIENCE = "sts.amazonaws.com"
#: A test only needs the credentials for seconds; 900 s is the shortest session STS grants.
CHECK_SESSION_SECONDS = 900
_SESSION_NAME_UNSAFE = re.compile(r"[^\w+=,.@-]")
UNKNOWN_ACCOUNT = (
    "The platform's own AWS account ID is not known (set PLATFORM_AWS_ACCOUNT_ID), "
    "so the trust policy cannot be shown yet."
)
NO_ROLE_REASON = "Add a connection role (an IAM role ARN) before testing an assume-role connection."


# --------------------------------------------------------------------------------------------------
# Connection test helpers (shared by ECR and the S3 backend, which borrow an AWS connection)
# --------------------------------------------------------------------------------------------------


def aws_call(call: Callable[..., Any], *args: Any, secrets: Any = None, what: str = "", **kwargs: Any) -> Any:
    """Run one boto3 call; AWS's own error (code and message) becomes a `CheckFailed` reason.

    `what` names the step for transport failures ("STS", "S3") since botocore's connection errors do
    not say which service was being reached.
    """
    try:
        return call(*args, **kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code") or ""), str(error.get("Message") or "")
        reason = f"{code}: {message}" if code and message else (message or code or str(exc))
        raise CheckFailed(scrub(reason, secrets), details={"aws_error_code": code}) from None
    except BotoCoreError as exc:
        raise CheckFailed(scrub(f"Could not complete the {what or 'AWS'} call: {exc}", secrets)) from None


def session_name(ctx: Any) -> str:
    """A RoleSessionName that shows up in the customer's CloudTrail as who tested which connection."""
    raw = f"platform-check-{ctx.org_slug}-{ctx.connection_name}"
    return _SESSION_NAME_UNSAFE.sub("-", raw)[:64]


def _temporary(credentials: Mapping[str, Any]) -> dict[str, str]:
    """STS `Credentials` as the keyword arguments of a boto3 session."""
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def role_arn_for(config: Mapping[str, Any], ctx: Any) -> str:
    """The role an assume-role connection is tested with: ``config["role_arn"]``, else the connection's first role.

    The connection itself has no role field (roles are added separately as connection roles), so the
    test service passes the first role's ARN as ``ctx.role_arn``; a missing role is the user's next step,
    not an error of ours.
    """
    role_arn = config.get("role_arn") or getattr(ctx, "role_arn", None)
    if not role_arn:
        raise CheckFailed(NO_ROLE_REASON)
    return str(role_arn)


def _require_account(subject: str, actual: str, declared: str | None) -> None:
    """`subject` ("The credentials belong", "The role belongs") must be in the declared account."""
    if declared and actual != declared:
        raise CheckFailed(f"{subject} to account {actual}, not the declared account {declared}.")


def assume_role(
    role_arn: str, *, external_id: str, region: str, ctx: Any, account_id: str | None = None
) -> tuple[dict[str, str], str]:
    """AssumeRole with the platform's own identity and the connection's ExternalId.

    Returns boto3 session credentials and the assumed-role ARN. The ExternalId is mandatory: a test
    that succeeds without it would prove a trust policy that any platform tenant could abuse.
    """
    try:
        role_account = v.aws_role_arn_account(role_arn)
    except FieldError:
        raise CheckFailed(f"{role_arn} is not an IAM role ARN.") from None
    _require_account("The role belongs", role_account, account_id)
    if not external_id:
        raise CheckFailed("This connection has no External ID; recreate it so the platform generates one.")
    sts = clients.client("sts", region=region, timeout=ctx.timeout)  # the platform's identity (default chain)
    try:
        response = aws_call(
            sts.assume_role,
            RoleArn=role_arn,
            RoleSessionName=session_name(ctx),
            ExternalId=external_id,
            DurationSeconds=CHECK_SESSION_SECONDS,
            what="STS AssumeRole",
        )
    except CheckFailed as exc:
        if exc.details.get("aws_error_code") != "AccessDenied":
            raise
        raise _trust_policy_hint(exc, role_arn, external_id, ctx) from None
    return _temporary(response["Credentials"]), str(response["AssumedRoleUser"]["Arn"])


def _trust_policy_hint(exc: CheckFailed, role_arn: str, external_id: str, ctx: Any) -> CheckFailed:
    """AccessDenied on AssumeRole almost always means the trust policy: say so, and attach the policy to paste.

    When the platform's own account cannot be resolved the hint still stands, just without the ready-made policy.
    """
    details = dict(exc.details)
    try:
        platform = platform_account_id()
    except Exception:  # a hint must never hide the real failure
        platform = None
    if platform:
        details["trust_policy"] = trust_policy(platform, external_id, partition=role_arn.split(":")[1])
    reason = (
        f"{exc.reason} Check that the trust policy of {role_arn} lets the platform's account assume it "
        "with this connection's External ID."
    )
    return CheckFailed(reason, details=details)


def assume_role_with_web_identity(role_arn: str, *, region: str, ctx: Any) -> tuple[dict[str, str], str]:
    """AssumeRoleWithWebIdentity with a fresh platform OIDC assertion (an unsigned STS call: no AWS keys)."""
    if ctx.sign_assertion is None:
        raise CheckFailed("The platform's OIDC issuer is not configured, so no web identity token can be signed.")
    token = ctx.sign_assertion(WEB_IDENTITY_AUDIENCE)
    sts = clients.client("sts", region=region, timeout=ctx.timeout)
    response = aws_call(
        sts.assume_role_with_web_identity,
        RoleArn=role_arn,
        RoleSessionName=session_name(ctx),
        WebIdentityToken=token,
        DurationSeconds=CHECK_SESSION_SECONDS,
        secrets=token,
        what="STS AssumeRoleWithWebIdentity",
    )
    return _temporary(response["Credentials"]), str(response["AssumedRoleUser"]["Arn"])


def session_credentials(
    auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any, *, external_id: str
) -> tuple[dict[str, str], str]:
    """Credentials (boto3 session kwargs) and the caller ARN for an AWS connection, whatever its auth method.

    Every path proves the identity lives in the declared account, so a test never passes on the wrong one.
    """
    region = str(config.get("region") or "us-east-1")
    account_id = config.get("account_id")
    if auth_method == "access_key":
        credentials = {
            "aws_access_key_id": str(config.get("access_key_id") or secrets.get("access_key_id") or ""),
            "aws_secret_access_key": str(secrets.get(_SECRET_ACCESS_KEY) or ""),
        }
        if secrets.get("session_token"):
            credentials["aws_session_token"] = str(secrets["session_token"])
        sts = clients.client("sts", region=region, credentials=credentials, timeout=ctx.timeout)
        identity = aws_call(sts.get_caller_identity, secrets=credentials, what="STS GetCallerIdentity")
        _require_account("The credentials belong", str(identity["Account"]), account_id)
        return credentials, str(identity["Arn"])
    if auth_method == "assume_role":
        role_arn = role_arn_for(config, ctx)
        return assume_role(role_arn, external_id=external_id, region=region, ctx=ctx, account_id=account_id)
    if auth_method == "web_identity":
        credentials, arn = assume_role_with_web_identity(str(config["role_arn"]), region=region, ctx=ctx)
        _require_account("The role belongs", arn.split(":")[4], account_id)
        return credentials, arn

    raise CheckFailed(f"Unknown AWS auth method {auth_method!r}.")


def referenced_credentials(ctx: Any) -> tuple[dict[str, str], Mapping[str, Any]]:
    """Credentials of the AWS connection an ECR/S3 connection borrows (``ctx.ref``), and that connection's config.

    An assume-role reference is assumed here with its own ExternalId; its role comes from
    ``ref.config["role_arn"]`` (the test service puts the referenced connection's first role there) or
    ``ctx.role_arn``.
    """
    ref = ctx.ref
    if ref is None or ref.provider != "aws":
        raise CheckFailed("The referenced AWS connection could not be loaded.")
    credentials, _arn = session_credentials(
        ref.auth_method, ref.config, ref.secrets, ctx, external_id=ref.external_id or ""
    )
    return credentials, ref.config


class AwsProvider(Provider):
    """AWS account connection.

    ``assume_role`` and ``web_identity`` store nothing secret: the runtime obtains temporary
    credentials (STS AssumeRole with the platform-generated ExternalId, or
    AssumeRoleWithWebIdentity) and hands them to `materialize` in ``secrets`` as
    ``access_key_id``/``secret_access_key``/``session_token``; for ``web_identity`` it may instead
    pass the OIDC token as ``web_identity_token`` and let the SDK do the exchange itself.
    """

    code = "aws"
    terraform_prefixes = ("aws_",)
    resource_kinds = (
        "AWS", "AWS RDS", "RDS", "AWS EC2", "EC2", "AWS EKS", "EKS", "AWS S3", "S3", "AWS Lambda", "Lambda",
        "AWS VPC", "VPC", "DynamoDB", "ECS", "CloudFront", "SQS", "SNS", "IAM",
    )
    role_support = AwsRoleSupport()
    terraform_default_tags_provider = "aws"
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

    def trust_setup(self, external_id: str) -> dict[str, Any]:
        """The trust policy for the customer's role: the platform's account, with this External ID."""
        try:
            account = platform_account_id()
        except Exception as exc:  # no platform identity configured or reachable: say so, keep the page
            raise SetupUnavailable(UNKNOWN_ACCOUNT) from exc
        return {"platform_account_id": account, "policy": trust_policy(account, external_id)}

    def federation_setup(
        self, auth_method: str, config: Mapping[str, Any], *, issuer: str, subject: str
    ) -> dict[str, Any] | None:
        """Web identity: the IAM OIDC provider for the platform's issuer, and the role's trust policy."""
        if auth_method != "web_identity":
            return None
        role_arn = str(config.get("role_arn") or "")
        parts = role_arn.split(":")
        partition = parts[1] if len(parts) > 1 and parts[1] else "aws"
        account = str(config.get("account_id") or "")
        role_name = role_arn.rsplit("/", 1)[-1] if "/" in role_arn else "ROLE_NAME"
        policy = web_identity_trust_policy(account, issuer, subject, WEB_IDENTITY_AUDIENCE, partition=partition)
        provider_arn = f"arn:{partition}:iam::{account}:oidc-provider/{oidc_provider_path(issuer)}"
        return federation_panel(
            "IAM OIDC identity provider and role trust policy",
            values=[
                ("issuer", "Provider URL (issuer)", issuer),
                ("audience", "Audience", WEB_IDENTITY_AUDIENCE),
                ("subject", "Subject (sub)", subject),
                ("oidc_provider_arn", "OIDC provider ARN", provider_arn),
            ],
            commands=[
                (
                    "Add the platform as an OIDC identity provider (once per account)",
                    f"aws iam create-open-id-connect-provider --url {shlex.quote(issuer)} "
                    f"--client-id-list {WEB_IDENTITY_AUDIENCE}",
                ),
                (
                    "Set the role's trust policy (saved as trust-policy.json)",
                    f"aws iam update-assume-role-policy --role-name {shlex.quote(role_name)} "
                    "--policy-document file://trust-policy.json",
                ),
            ],
            documents=[("trust_policy", "Role trust policy", policy)],
            notes=[
                "No thumbprint is needed: IAM verifies the issuer's TLS certificate itself for providers "
                "created without --thumbprint-list.",
                "The trust policy pins both the audience and this connection's subject: no other connection "
                "of the platform can assume the role.",
            ],
        )

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

    def check(self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any) -> CheckResult:
        """STS proves the credentials: GetCallerIdentity for keys, AssumeRole(+ExternalId) or web identity otherwise.

        Keys must also belong to the declared account: a card that names one account while runs land
        in another is worse than a failed test.
        """
        config = self._with_defaults(auth_method, config)
        _credentials, arn = session_credentials(auth_method, config, secrets, ctx, external_id=ctx.external_id)
        verb = "Authenticated as" if auth_method == "access_key" else "Assumed"
        return CheckResult(f"{verb} {arn}.", details={"arn": arn, "account_id": config["account_id"]})

    def run_setup(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: Any, *, ref: Any = None
    ) -> Any:
        """STS session through a loopback endpoint (assume_role), a refreshed token file (web_identity), or keys."""
        return aws_run.run_setup(auth_method, self._with_defaults(auth_method, config), secrets, ctx)

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
