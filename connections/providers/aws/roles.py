"""AWS connection roles: an IAM role ARN with a session duration, validated against STS and IAM.

What the cloud is asked, and why. STS AssumeRole with the platform's default credentials, the
connection's External ID and the role's session duration: the real proof that the role is usable.
Because moto (tests, local runs) does not enforce trust policies, and because a trust policy can be
usable *and* unsafe, the role is then read (`iam:GetRole`) and its trust policy analysed by
`iam_policy.analyze_trust_policy`. The role's managed and inline policies (and permissions boundary)
are read and evaluated by our own evaluator (`iam_policy`; moto has no policy simulator). IAM reads use
the role's own session first, which is what works across accounts in real AWS (the role needs read
access to its own IAM configuration, e.g. `iam:GetRole`, `iam:List*RolePolicies`, `iam:GetPolicy*`,
`iam:GetRolePolicy`); when that session is refused, the platform identity is tried (same-account
deployments, moto). A role that no longer exists is `expired`. In real AWS a deleted role already fails
AssumeRole, which reads as `invalid`: the two cannot be told apart from outside the customer's account.

An access-key connection assumes its roles with its own key (no External ID: the key's account is
trusted by the customer's own policy); an assume-role connection with the platform's identity.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError, ParamValidationError
from botocore.exceptions import ConnectionError as BotoConnectionError

from core import masking

from ..contract import Advice, RoleField, RoleOutcome, RoleRequest, RoleSupport
from ..contract import RoleStatus as Status
from ..errors import ProviderValidationError
from . import clients, iam_policy
from .identity import platform_account_id

ROLE_ARN_RE = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
SESSION_DURATION_MIN = 900
SESSION_DURATION_MAX = 43200
SESSION_DURATION_DEFAULT = 3600
ROLE_AUTH_METHODS = ("assume_role", "access_key")
_MAX_PAGES = 50
_ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_TRANSIENT_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable"})
_SESSION_NAME_UNSAFE = re.compile(r"[^\w+=,.@-]")
_MANAGED_PREFIX = "managed policy "  # how attached managed policies are labelled (findings name them)


def aws_error(exc: BaseException) -> tuple[str, str]:
    """(code, message) of a botocore ClientError-like exception; empty strings for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        return str(response["Error"].get("Code") or ""), str(response["Error"].get("Message") or "")
    return "", ""


# --------------------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------------------


def _clean_session_duration(value: Any, errors: dict[str, list[str]]) -> int | None:
    if value is None or value == "":
        return SESSION_DURATION_DEFAULT
    try:
        if isinstance(value, bool) or float(value) != int(value):
            raise ValueError
        seconds = int(value)
    except (TypeError, ValueError):
        errors["session_duration"] = ["Enter a whole number of seconds."]
        return None
    if not SESSION_DURATION_MIN <= seconds <= SESSION_DURATION_MAX:
        errors["session_duration"] = [
            f"The session duration must be between {SESSION_DURATION_MIN} (15 minutes) and "
            f"{SESSION_DURATION_MAX} seconds (12 hours)."
        ]
    return seconds


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """Who assumes the role: the platform (assume_role, with the External ID) or the connection's key."""

    credentials: dict[str, str] | None
    trusted_account: str
    external_id: str | None


def _source(request: RoleRequest, stack: ExitStack) -> _Source:
    if request.auth_method == "access_key":
        creds = stack.enter_context(request.credentials())
        keys = {
            "aws_access_key_id": str(creds.config["access_key_id"]),
            "aws_secret_access_key": str(creds.secrets["secret_access_key"]),
        }
        return _Source(keys, str(request.config["account_id"]), None)
    return _Source(None, platform_account_id(), request.external_id or None)


def _platform_client(service: str, region: str, credentials: dict[str, str] | None, timeout: float) -> Any:
    return clients.client(service, region=region, credentials=credentials, timeout=timeout)


def _session_name(request: RoleRequest) -> str:
    """Shows up in the customer's CloudTrail as who validated which role."""
    return _SESSION_NAME_UNSAFE.sub("-", f"platform-validate-{request.org_slug}-{request.role['id']}")[:64]


def _assume(request: RoleRequest, source: _Source, region: str) -> dict[str, str] | RoleOutcome:
    """The role's temporary credentials, or an `invalid` outcome with STS's own words."""
    kwargs: dict[str, Any] = {
        "RoleArn": request.role["role_arn"],
        "RoleSessionName": _session_name(request),
        "DurationSeconds": request.role.get("session_duration") or SESSION_DURATION_DEFAULT,
    }
    if source.external_id:
        kwargs["ExternalId"] = source.external_id
    try:
        answer = _platform_client("sts", region, source.credentials, request.timeout).assume_role(**kwargs)
    except ClientError as exc:
        code, message = aws_error(exc)
        if code in _TRANSIENT_CODES:
            raise
        return RoleOutcome(
            Status.INVALID,
            error=masking.mask(f"AssumeRole failed: {code}: {message}. Check the role's trust policy."),
            details={"aws_error_code": code},
        )
    except ParamValidationError as exc:
        return RoleOutcome(Status.INVALID, error=masking.mask(f"AssumeRole was refused before it was sent: {exc}"))
    credentials = answer["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


class _IamReader:
    """Reads the role's IAM configuration: with the role's own session first (what works across
    accounts), then with the identity that assumed it when the session is refused."""

    def __init__(self, region: str, session: dict[str, str], source: dict[str, str] | None, timeout: float) -> None:
        self._clients = [
            clients.session_client("iam", region=region, credentials=session, timeout=timeout),
            _platform_client("iam", region, source, timeout),
        ]

    def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        refused: ClientError | None = None
        for iam in self._clients:
            try:
                return getattr(iam, method)(**kwargs)
            except ClientError as exc:
                if aws_error(exc)[0] not in _ACCESS_DENIED:
                    raise
                refused = exc
        assert refused is not None
        raise refused

    def pages(self, method: str, key: str, **kwargs: Any) -> list[Any]:
        """Every item of a Marker/IsTruncated listing."""
        items: list[Any] = []
        marker = None
        for _ in range(_MAX_PAGES):
            answer = self.call(method, **kwargs, **({"Marker": marker} if marker else {}))
            items.extend(answer.get(key, []))
            marker = answer.get("Marker")
            if not answer.get("IsTruncated") or not marker:
                return items
        raise RuntimeError(f"{method} returned more than {_MAX_PAGES} pages.")

    def managed_document(self, arn: str) -> Any:
        version = self.call("get_policy", PolicyArn=arn)["Policy"]["DefaultVersionId"]
        return self.call("get_policy_version", PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]

    def policies(self, info: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """({policy label: document}, permissions boundary document or None)."""
        name = info["RoleName"]
        documents: dict[str, Any] = {}
        for attached in self.pages("list_attached_role_policies", "AttachedPolicies", RoleName=name):
            documents[f"{_MANAGED_PREFIX}{attached['PolicyName']}"] = self.managed_document(attached["PolicyArn"])
        for policy_name in self.pages("list_role_policies", "PolicyNames", RoleName=name):
            answer = self.call("get_role_policy", RoleName=name, PolicyName=policy_name)
            documents[f"inline policy {policy_name}"] = answer["PolicyDocument"]
        boundary_arn = (info.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        boundary = {"permissions boundary": self.managed_document(boundary_arn)} if boundary_arn else None
        return documents, boundary


def _expired() -> RoleOutcome:
    return RoleOutcome(
        Status.EXPIRED, error="The role no longer exists in AWS.", granted=[], denied=[], missing=[], advice=[]
    )


def _missing_message(missing: list[str], decisions: dict[str, iam_policy.Decision]) -> str:
    parts = []
    for action in missing:
        decision = decisions[action]
        if decision.result == iam_policy.DENIED:
            parts.append(f"{action} (explicitly denied by {'; '.join(decision.denied_by)})")
        else:
            parts.append(f"{action} (not granted)")
    return f"The role lacks permissions its code needs: {', '.join(parts)}."


def _advice(documents: dict[str, Any]) -> list[Advice]:
    """Least-privilege findings over the role's own policies (the boundary only narrows, it grants nothing)."""
    managed = [label.removeprefix(_MANAGED_PREFIX) for label in documents if label.startswith(_MANAGED_PREFIX)]
    return [Advice(code, message) for code, message in iam_policy.least_privilege_findings(documents, managed=managed)]


def _evaluate(
    documents: Any, boundary: Any, detected: list[str], *, extra_details: dict[str, Any] | None = None
) -> RoleOutcome:
    outcome = _decide(documents, boundary, detected, extra_details=extra_details)
    outcome.advice = _advice(documents) if isinstance(documents, dict) else []
    return outcome


def _decide(
    documents: Any, boundary: Any, detected: list[str], *, extra_details: dict[str, Any] | None = None
) -> RoleOutcome:
    granted = iam_policy.granted_actions(documents)
    denied = sorted(
        set(iam_policy.denied_actions(documents)) | set(iam_policy.denied_actions(boundary) if boundary else []),
        key=lambda a: (a.lower(), a),
    )
    decisions = iam_policy.evaluate_detailed(documents, detected, boundary=boundary)
    missing = [action for action in detected if not decisions[action].allowed]
    details = {
        **(extra_details or {}),
        # A list, not a dict keyed by action: the audit trail redacts values under secret-looking keys
        # (secretsmanager:GetSecretValue would be one).
        "decisions": [{"action": action, "result": decision.label} for action, decision in decisions.items()],
        "scoped": [a for a, d in decisions.items() if d.allowed and d.scoped],
        "conditional": [a for a, d in decisions.items() if d.allowed and d.conditional],
    }
    if missing:
        error = _missing_message(missing, decisions)
        return RoleOutcome(
            Status.INVALID, error=error, granted=granted, denied=denied, missing=missing, details=details
        )
    return RoleOutcome(Status.VALID, granted=granted, denied=denied, missing=[], details=details)


def _trust_problems(request: RoleRequest, info: dict[str, Any], source: _Source) -> list[str]:
    problems = iam_policy.analyze_trust_policy(
        info.get("AssumeRolePolicyDocument") or {},
        platform_account_id=source.trusted_account,
        external_id=source.external_id,
    )
    maximum = int(info.get("MaxSessionDuration") or SESSION_DURATION_DEFAULT)
    duration = request.role.get("session_duration")
    if duration and duration > maximum:
        problems.append(
            f"The session duration ({duration} s) is longer than the role's maximum session "
            f"duration ({maximum} s): raise the role's MaxSessionDuration or shorten the session."
        )
    return problems


class AwsRoleSupport(RoleSupport):
    """IAM roles of an AWS connection (assume_role or access_key; a web identity connection has its own role)."""

    fields = (
        RoleField("role_arn", "IAM role ARN", "arn:aws:iam::<account>:role/<name>, in the connection's AWS account."),
        RoleField(
            "session_duration",
            "Session duration (seconds)",
            "15 minutes to 12 hours (900-43200).",
            kind="integer",
            initial=SESSION_DURATION_DEFAULT,
        ),
    )
    identity_field = "role_arn"
    noun = "role"

    def applies_to(self, auth_method: str) -> bool:
        return auth_method in ROLE_AUTH_METHODS

    def clean(self, auth_method: str, config: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Role ARN in the connection's account and a session duration in STS's range."""
        if auth_method not in ROLE_AUTH_METHODS:
            raise ProviderValidationError(
                {
                    "non_field_errors": [
                        "Roles are added to AWS connections that use assume_role or an access key; a web "
                        "identity connection assumes its own role_arn."
                    ]
                }
            )
        errors: dict[str, list[str]] = {}
        arn = str(data.get("role_arn") or "").strip()
        match = ROLE_ARN_RE.match(arn)
        account = str(config.get("account_id") or "")
        if not arn:
            errors["role_arn"] = ["An IAM role ARN is required for AWS connections."]
        elif match is None:
            errors["role_arn"] = ["Enter an IAM role ARN, e.g. arn:aws:iam::123456789012:role/TerraformRunner."]
        elif match.group(2) != account:
            errors["role_arn"] = [
                f"The role belongs to account {match.group(2)}, not the connection's account {account}."
            ]
        duration = _clean_session_duration(data.get("session_duration"), errors)
        if errors:
            raise ProviderValidationError(errors)
        return {"role_arn": arn, "session_duration": duration}

    def validate(self, request: RoleRequest) -> RoleOutcome:
        region = str(request.config.get("region") or "us-east-1")
        with ExitStack() as stack:
            source = _source(request, stack)
            session = _assume(request, source, region)
            if isinstance(session, RoleOutcome):
                return session
            reader = _IamReader(region, session, source.credentials, request.timeout)
            try:
                info = reader.call("get_role", RoleName=request.role["role_arn"].rsplit("/", 1)[-1])["Role"]
                problems = _trust_problems(request, info, source)
                if problems:
                    return RoleOutcome(Status.INVALID, error="\n".join(problems), details={"trust_problems": problems})
                documents, boundary = reader.policies(info)
            except ClientError as exc:
                if aws_error(exc)[0] == "NoSuchEntity":
                    return _expired()
                raise
        return _evaluate(documents, boundary, request.detected, extra_details={"policies": sorted(documents)})

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, BotoConnectionError | HTTPClientError):
            return True
        code, _ = aws_error(exc)
        status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in _TRANSIENT_CODES or int(status) >= 500

    def describe(self, exc: BaseException) -> str | None:
        code, message = aws_error(exc)
        return f"{code}: {message}" if code else None
