"""Connection roles: adding them, validating them against the cloud, and the check before each use.

A connection role is the identity Terraform works as: an AWS IAM role (assumed with the connection's
External ID) or an Azure service principal. Validation answers the questions of the role status table
(seeds/004, "Role Validation"): can the platform assume it, is its trust policy safe, what is it
granted and explicitly denied, does that cover what the code needs (detected permissions), and has
it changed since it was last valid.

Shape of a validation (`do_validate_role`): the role is marked `validating` in its own short
transaction (so pages show progress and nothing holds a row lock across network calls), the cloud is
asked with no transaction open, and the result is written in a second transaction together with its
audit event. Re-validating is always safe (the Celery task relies on it).

What the cloud is asked, and why:

* AWS. STS AssumeRole with the platform's default credentials, the connection's External ID and the
  role's session duration: the real proof that the role is usable. Because moto (tests, local runs)
  does not enforce trust policies, and because a trust policy can be usable *and* unsafe, the role is
  then read (`iam:GetRole`) and its trust policy analysed by `iam_policy.analyze_trust_policy`. The
  role's managed and inline policies (and permissions boundary) are read and evaluated by our own
  evaluator (`iam_policy`; moto has no policy simulator). IAM reads use the role's own session first,
  which is what works across accounts in real AWS (the role needs read access to its own IAM
  configuration, e.g. `iam:GetRole`, `iam:List*RolePolicies`, `iam:GetPolicy*`, `iam:GetRolePolicy`);
  when that session is refused, the platform identity is tried (same-account deployments, moto).
  A role that no longer exists is `expired`. In real AWS a deleted role already fails AssumeRole,
  which reads as `invalid`: the two cannot be told apart from outside the customer's account.
* Azure. The platform has no secret for the role's service principal, so the connection's own
  credentials (through `use_credentials`, audited) get a management token, and the role assignments of
  the role's principal on the connection's subscription are listed; their role definitions are the
  granted permissions and are matched against detected operations. Deny assignments are not read,
  so `denied_permissions` stays empty for Azure roles.

Statuses: `invalid` = cannot be assumed, unsafe trust, or missing permissions; `drift` = usable but
granted/denied permissions differ from the last validation that ended valid or drift; `expired` = the
role is gone; `error` = the check itself could not complete (network, credentials, bad policy JSON),
with the details masked by `core.masking`.

Settings read (all optional, via getattr): `PLATFORM_AWS_ACCOUNT_ID` (else STS GetCallerIdentity of the default chain),
`AZURE_CA_BUNDLE` (a CA file for the Azure authority and management endpoints; tests use a local
TLS fake), `ROLE_VALIDATION_TIMEOUT` (seconds per HTTP call, default 10); `NETGUARD_ALLOWED_NETWORKS`
is read by the SSRF guard every Azure management call goes through.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actors import split_actor
from accounts.audit import record_event
from accounts.choices import AuditAction
from accounts.policy import Action, check
from core import masking

from . import iam_policy
from .checks import endpoint
from .choices import RoleStatusChoices
from .models import Connection, ConnectionRole

logger = logging.getLogger(__name__)

Status = RoleStatusChoices

ROLE_ARN_RE = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SESSION_DURATION_MIN = 900
SESSION_DURATION_MAX = 43200
SESSION_DURATION_DEFAULT = 3600
# Statuses a run may proceed with: drift means "changed", not "broken" (missing permissions are invalid).
USABLE_STATUSES = frozenset({Status.VALID, Status.DRIFT})
AZURE_ROLE_API_VERSION = "2022-04-01"
AZURE_FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
AWS_ROLE_AUTH_METHODS = ("assume_role", "access_key")
_ERROR_LIMIT = 4000
_MAX_PAGES = 50




class RoleNotUsable(Exception):
    """Raised by `validate_before_use` when the role's fresh status is not valid/drift: the run must not start."""

    code = "role_not_usable"

    def __init__(self, role: ConnectionRole) -> None:
        self.role = role
        reason = (role.validation_error or "").strip().splitlines()
        detail = f": {reason[0]}" if reason else "."
        super().__init__(
            f"Connection role '{role.name or role}' of connection '{role.connection.name}' is {role.status}{detail}"
        )


class RoleValidationUnavailable(ConnectionError):
    """The cloud could not be reached; the role was saved as `error` and the Celery task may retry."""


# --------------------------------------------------------------------------------------------------
# Detected permissions: what the code that uses the role needs (Terraform projects register here)
# --------------------------------------------------------------------------------------------------

DETECTED_PERMISSION_SOURCES: list[Callable[[ConnectionRole], set[str]]] = []


def register_detected_permissions(func: Callable[[ConnectionRole], set[str]]) -> Callable[[ConnectionRole], set[str]]:
    """Register a function returning the actions some code needs from a role (e.g. `ec2:RunInstances`)."""
    DETECTED_PERMISSION_SOURCES.append(func)
    return func


def detected_permissions(role: ConnectionRole) -> list[str]:
    """The union of every registered source, sorted (case-insensitively, as IAM compares actions)."""
    found: set[str] = set()
    for source in DETECTED_PERMISSION_SOURCES:
        found |= {str(action).strip() for action in source(role) or () if str(action).strip()}
    return sorted(found, key=lambda a: (a.lower(), a))


# --------------------------------------------------------------------------------------------------
# Adding and deleting roles
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


def _clean_aws(connection: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """Role ARN in the connection's account and a session duration in STS's range."""
    if connection.auth_method not in AWS_ROLE_AUTH_METHODS:
        raise ValidationError(
            "Roles are added to AWS connections that use assume_role or an access key; a web identity "
            "connection assumes its own role_arn."
        )
    errors: dict[str, list[str]] = {}
    arn = str(data.get("role_arn") or "").strip()
    match = ROLE_ARN_RE.match(arn)
    account = str(connection.config.get("account_id") or "")
    if not arn:
        errors["role_arn"] = ["An IAM role ARN is required for AWS connections."]
    elif match is None:
        errors["role_arn"] = ["Enter an IAM role ARN, e.g. arn:aws:iam::123456789012:role/TerraformRunner."]
    elif match.group(2) != account:
        errors["role_arn"] = [f"The role belongs to account {match.group(2)}, not the connection's account {account}."]
    duration = _clean_session_duration(data.get("session_duration"), errors)
    for name in ("client_id", "object_id"):
        if data.get(name):
            errors[name] = ["Only Azure roles have a client ID and an object ID."]
    if errors:
        raise ValidationError(errors)
    return {"role_arn": arn, "session_duration": duration}


def _clean_azure(connection: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """A service principal: client (application) id and object id, both GUIDs; nothing secret."""
    errors: dict[str, list[str]] = {}
    values = {}
    for name, label in (("client_id", "client (application) ID"), ("object_id", "object ID")):
        value = str(data.get(name) or "").strip()
        if not value:
            errors[name] = [f"The service principal's {label} is required for Azure connections."]
        elif not GUID_RE.match(value):
            errors[name] = [f"The {label} must be a GUID such as 0b5c3e2a-1d4f-4a6b-9c8d-7e6f5a4b3c2d."]
        values[name] = value.lower()
    if data.get("role_arn"):
        errors["role_arn"] = ["Only AWS roles have a role ARN."]
    if errors:
        raise ValidationError(errors)
    return {**values, "session_duration": None}


_CLEANERS: dict[str, Callable[[Connection, dict[str, Any]], dict[str, Any]]] = {
    "aws": _clean_aws,
    "azure": _clean_azure,
}
# The one place that says which providers take roles and which fields describe one (forms use it).
ROLE_PROVIDERS: tuple[str, ...] = tuple(_CLEANERS)
ROLE_FIELDS: dict[str, tuple[str, ...]] = {
    "aws": ("name", "role_arn", "session_duration"),
    "azure": ("name", "client_id", "object_id"),
}


def _user(actor: Any) -> Any:
    return split_actor(actor)[0]


@transaction.atomic
def do_add_role(
    connection: Connection,
    *,
    actor: Any,
    role_arn: str | None = None,
    session_duration: int | None = SESSION_DURATION_DEFAULT,
    client_id: str | None = None,
    object_id: str | None = None,
    name: str = "",
) -> ConnectionRole:
    """Add an AWS role (ARN + session duration) or Azure service principal to a connection, as `pending`."""
    check(actor, Action.MANAGE_ROLES, connection)
    cleaner = _CLEANERS.get(connection.provider)
    if cleaner is None:
        raise ValidationError("Connection roles are for AWS and Azure connections.")
    data = {"role_arn": role_arn, "session_duration": session_duration, "client_id": client_id, "object_id": object_id}
    fields = cleaner(connection, data)
    name = (name or "").strip()
    if len(name) > 100:
        raise ValidationError({"name": ["Use at most 100 characters."]})
    connection = Connection.objects.select_for_update().select_related("org").get(pk=connection.pk)
    key = "role_arn" if fields.get("role_arn") else "client_id"
    duplicate = f"This {'role' if key == 'role_arn' else 'service principal'} is already a role of '{connection.name}'."
    if ConnectionRole.objects.filter(connection=connection, **{key: fields[key]}).exists():
        raise ValidationError({key: [duplicate]})
    role = ConnectionRole(
        connection=connection, org=connection.org, name=name, created_by=_user(actor), status=Status.PENDING, **fields
    )
    try:
        with transaction.atomic():
            role.save(force_insert=True)
    except IntegrityError:  # a concurrent add of the same role won
        raise ValidationError({key: [duplicate]}) from None
    record_event(
        org=connection.org,
        action=AuditAction.CONNECTION_ROLE_ADDED,
        actor=actor,
        target=role,
        details={"connection": connection.name, "provider": connection.provider, "name": name, **fields},
    )
    return role


@transaction.atomic
def do_delete_role(role: ConnectionRole, *, actor: Any) -> None:
    """Remove a role from its connection (the cloud-side role is not touched)."""
    check(actor, Action.MANAGE_ROLES, role.connection)
    role = ConnectionRole.objects.select_for_update().select_related("connection", "org").get(pk=role.pk)
    record_event(
        org=role.org,
        action=AuditAction.CONNECTION_ROLE_DELETED,
        actor=actor,
        target=role,
        details={"connection": role.connection.name, "status": role.status},
    )
    role.delete()


# --------------------------------------------------------------------------------------------------
# Validation: outcome, bookkeeping
# --------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one validation found. `None` lists mean "not determined this time": the stored ones stay,
    so a network error does not wipe what the role was last seen to have."""

    status: str
    error: str = ""
    granted: list[str] | None = None
    denied: list[str] | None = None
    missing: list[str] | None = None
    detected: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    transient: bool = False


@dataclass(frozen=True)
class _Previous:
    """The role as it was before this validation: the drift baseline."""

    status: str
    granted: list[str]
    denied: list[str]

    @property
    def has_baseline(self) -> bool:
        return self.status in USABLE_STATUSES


def _previous_status(role: ConnectionRole) -> str:
    """The last *result*; a role left `validating` (an interrupted run) falls back to its timestamps."""
    if role.status != Status.VALIDATING:
        return role.status
    if role.validated_at is not None and role.validated_at == role.last_valid_at:
        return Status.VALID
    return Status.PENDING


def _mark_validating(role: ConnectionRole) -> tuple[ConnectionRole, _Previous]:
    with transaction.atomic():
        locked = ConnectionRole.objects.select_for_update().select_related("connection", "connection__org", "org")
        locked_role = locked.get(pk=role.pk)
        previous = _Previous(
            _previous_status(locked_role),
            list(locked_role.granted_permissions or []),
            list(locked_role.denied_permissions or []),
        )
        if locked_role.status != Status.VALIDATING:
            locked_role.status = Status.VALIDATING
            locked_role.save(update_fields=["status", "updated_at"])
    return locked_role, previous


def _changes(previous: _Previous, outcome: Outcome) -> dict[str, dict[str, list[str]]]:
    changes: dict[str, dict[str, list[str]]] = {}
    for key, before, after in (
        ("granted", previous.granted, outcome.granted),
        ("denied", previous.denied, outcome.denied),
    ):
        if after is None:
            continue
        added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
        if added or removed:
            changes[key] = {"added": added, "removed": removed}
    return changes


def _drift_message(changes: dict[str, dict[str, list[str]]]) -> str:
    parts = []
    for key, diff in changes.items():
        for verb in ("added", "removed"):
            if diff[verb]:
                parts.append(f"{key} {verb}: {', '.join(diff[verb])}")
    return "Permissions changed since the last validation (" + "; ".join(parts) + ")."


def _record_outcome(role: ConnectionRole, outcome: Outcome, previous: _Previous, *, actor: Any) -> ConnectionRole:
    with transaction.atomic():
        locked = (
            ConnectionRole.objects.select_for_update()
            .select_related("connection", "connection__org", "org")
            .filter(pk=role.pk)
            .first()
        )
        if locked is None:  # deleted while we were asking the cloud: nothing left to record
            return role
        status, error, details = outcome.status, outcome.error, dict(outcome.details)
        if status == Status.VALID and previous.has_baseline and (changes := _changes(previous, outcome)):
            status, error, details["changes"] = Status.DRIFT, _drift_message(changes), changes
        now = timezone.now()
        locked.status = status
        locked.validation_error = masking.mask(error)[:_ERROR_LIMIT]
        locked.validated_at = now
        locked.detected_permissions = outcome.detected
        for name, value in (
            ("granted_permissions", outcome.granted),
            ("denied_permissions", outcome.denied),
            ("missing_permissions", outcome.missing),
        ):
            if value is not None:
                setattr(locked, name, value)
        if status == Status.VALID:
            locked.last_valid_at = now
        locked.save()
        record_event(
            org=locked.org,
            action=AuditAction.CONNECTION_ROLE_VALIDATED,
            actor=actor,
            target=locked,
            details={
                "connection": locked.connection.name,
                "old_status": previous.status,
                "new_status": status,
                "error": locked.validation_error,
                "granted": locked.granted_permissions,
                "denied": locked.denied_permissions,
                "missing": locked.missing_permissions,
                "detected": locked.detected_permissions,
                **details,
            },
        )
    return locked


def do_validate_role(
    role: ConnectionRole,
    *,
    actor: Any,
    sign_assertion: Callable[[str], str] | None = None,
    raise_transient: bool = False,
) -> ConnectionRole:
    """Validate a role against its cloud and save the status, permissions and an audit event.

    Call it outside any transaction: it commits `validating` first and asks the cloud with no
    transaction (and so no row lock) open.

    Never raises for a failed validation (that is a status); `raise_transient=True` (the Celery task,
    outside eager mode) re-raises unreachable-cloud failures as `RoleValidationUnavailable` after
    saving them, so the task can retry. `sign_assertion(audience)` signs the OIDC client assertion
    for Azure federated connections; by default the platform's issuer (the identity app) is used.
    """
    check(actor, Action.MANAGE_ROLES, role.connection)
    role, previous = _mark_validating(role)
    outcome = _run(role, actor=actor, sign_assertion=sign_assertion)
    role = _record_outcome(role, outcome, previous, actor=actor)
    if outcome.transient and raise_transient:
        raise RoleValidationUnavailable(role.validation_error)
    return role


def validate_before_use(
    connection: Connection, role: ConnectionRole | None = None, *, actor: Any
) -> ConnectionRole | None:
    """The hook a Terraform run calls before using a connection: re-validate `role` (default: the
    connection's first role) and raise `RoleNotUsable` unless it ends valid or drift. Returns the
    freshly validated role, or None when the connection has no role to check."""
    if role is None:
        role = connection.roles.select_related("connection").order_by("created_at", "pk").first()
        if role is None:
            return None
    elif role.connection_id != connection.pk:
        raise ValueError(f"Role {role.pk} does not belong to connection '{connection.name}'.")
    role = do_validate_role(role, actor=actor)
    if role.status not in USABLE_STATUSES:
        raise RoleNotUsable(role)
    return role


def _run(role: ConnectionRole, *, actor: Any, sign_assertion: Callable[[str], str] | None) -> Outcome:
    """Ask the cloud; any unexpected failure becomes an `error` outcome with a masked description."""
    detected: list[str] = []
    try:
        detected = detected_permissions(role)
        validator = _VALIDATORS[role.connection.provider]
        outcome = validator(role, detected=detected, actor=actor, sign_assertion=sign_assertion)
    except Exception as exc:
        logger.warning("Validation of connection role %s failed: %s", role.pk, exc.__class__.__name__)
        outcome = Outcome(Status.ERROR, error=f"Validation could not complete: {_describe(exc)}")
        outcome.transient = _is_transient(exc)
    outcome.detected = detected
    return outcome


def _describe(exc: BaseException) -> str:
    """A one-line, masked reason: AWS's code and message, or the exception's type and text."""
    code, message = _aws_error(exc)
    text = f"{code}: {message}" if code else f"{exc.__class__.__name__}: {exc}"
    return masking.mask(" ".join(text.split()))[:_ERROR_LIMIT]


def _aws_error(exc: BaseException) -> tuple[str, str]:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        return str(response["Error"].get("Code") or ""), str(response["Error"].get("Message") or "")
    return "", ""


_TRANSIENT_AWS_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable"})


def _is_transient(exc: BaseException) -> bool:
    """Network trouble or throttling: worth a retry, unlike a refusal or a bad policy."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    from core.netguard import GuardError

    transient_types = (
        ConnectionError,
        TimeoutError,
        BotoConnectionError,
        HTTPClientError,
        GuardError,
        ServiceRequestError,
        ServiceResponseError,
    )
    if isinstance(exc, transient_types):
        return True
    if isinstance(exc, ArmError):
        return exc.status == 429 or exc.status >= 500
    code, _ = _aws_error(exc)
    status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return code in _TRANSIENT_AWS_CODES or int(status) >= 500


def _timeout() -> float:
    return float(getattr(settings, "ROLE_VALIDATION_TIMEOUT", 10.0))


# --------------------------------------------------------------------------------------------------
# AWS
# --------------------------------------------------------------------------------------------------

_ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_SESSION_NAME_UNSAFE = re.compile(r"[^\w+=,.@-]")


@dataclass(frozen=True)
class _AwsSource:
    """Who assumes the role: the platform (assume_role, with the External ID) or the connection's key."""

    credentials: dict[str, str] | None
    trusted_account: str
    external_id: str | None


def _aws_source(connection: Connection, region: str, *, actor: Any, stack: ExitStack) -> _AwsSource:
    if connection.auth_method == "access_key":
        from .runtime import use_credentials

        creds = stack.enter_context(use_credentials(connection, actor=actor, purpose="role-validation"))
        keys = {
            "aws_access_key_id": str(creds.config["access_key_id"]),
            "aws_secret_access_key": str(creds.secrets["secret_access_key"]),
        }
        return _AwsSource(keys, str(connection.config["account_id"]), None)
    return _AwsSource(None, platform_account_id(region), connection.external_id or None)


def platform_account_id(region: str) -> str:
    """The account the platform's default credentials belong to: the `PLATFORM_AWS_ACCOUNT_ID` setting,
    else STS GetCallerIdentity. Read on every validation (one cheap call when unset) so a setting
    change or credential rotation is never hidden behind a process-wide cache."""
    configured = getattr(settings, "PLATFORM_AWS_ACCOUNT_ID", None)
    if configured:
        return str(configured)
    return str(_platform_client("sts", region, None).get_caller_identity()["Account"])


def _session_client(service: str, region: str, credentials: dict[str, str]) -> Any:
    """A boto3 client for temporary credentials. Not cached (unlike `aws_clients.client`): every
    validation has new session credentials, and caching them would grow the per-thread cache forever."""
    import boto3
    from botocore.config import Config

    timeout = _timeout()
    config = Config(connect_timeout=min(timeout, 5), read_timeout=timeout, retries={"max_attempts": 2})
    return boto3.session.Session(**credentials).client(service, region_name=region, config=config)


def _platform_client(service: str, region: str, credentials: dict[str, str] | None) -> Any:
    from .aws_clients import client

    return client(service, region=region, credentials=credentials, timeout=_timeout())


def _session_name(role: ConnectionRole) -> str:
    """Shows up in the customer's CloudTrail as who validated which role."""
    return _SESSION_NAME_UNSAFE.sub("-", f"platform-validate-{role.org.slug}-{role.pk}")[:64]


def _assume(role: ConnectionRole, source: _AwsSource, region: str) -> dict[str, str] | Outcome:
    """The role's temporary credentials, or an `invalid` outcome with STS's own words."""
    from botocore.exceptions import ClientError, ParamValidationError

    kwargs: dict[str, Any] = {
        "RoleArn": role.role_arn,
        "RoleSessionName": _session_name(role),
        "DurationSeconds": role.session_duration or SESSION_DURATION_DEFAULT,
    }
    if source.external_id:
        kwargs["ExternalId"] = source.external_id
    try:
        answer = _platform_client("sts", region, source.credentials).assume_role(**kwargs)
    except ClientError as exc:
        code, message = _aws_error(exc)
        if code in _TRANSIENT_AWS_CODES:
            raise
        return Outcome(
            Status.INVALID,
            error=masking.mask(f"AssumeRole failed: {code}: {message}. Check the role's trust policy."),
            details={"aws_error_code": code},
        )
    except ParamValidationError as exc:
        return Outcome(Status.INVALID, error=masking.mask(f"AssumeRole was refused before it was sent: {exc}"))
    credentials = answer["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


class _IamReader:
    """Reads the role's IAM configuration: with the role's own session first (what works across
    accounts), then with the identity that assumed it when the session is refused."""

    def __init__(self, region: str, session: dict[str, str], source: dict[str, str] | None) -> None:
        self._clients = [_session_client("iam", region, session), _platform_client("iam", region, source)]

    def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        refused: ClientError | None = None
        for iam in self._clients:
            try:
                return getattr(iam, method)(**kwargs)
            except ClientError as exc:
                if _aws_error(exc)[0] not in _ACCESS_DENIED:
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
            documents[f"managed policy {attached['PolicyName']}"] = self.managed_document(attached["PolicyArn"])
        for policy_name in self.pages("list_role_policies", "PolicyNames", RoleName=name):
            answer = self.call("get_role_policy", RoleName=name, PolicyName=policy_name)
            documents[f"inline policy {policy_name}"] = answer["PolicyDocument"]
        boundary_arn = (info.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        boundary = {"permissions boundary": self.managed_document(boundary_arn)} if boundary_arn else None
        return documents, boundary


def _expired() -> Outcome:
    return Outcome(Status.EXPIRED, error="The role no longer exists in AWS.", granted=[], denied=[], missing=[])


def _missing_message(missing: list[str], decisions: dict[str, iam_policy.Decision]) -> str:
    parts = []
    for action in missing:
        decision = decisions[action]
        if decision.result == iam_policy.DENIED:
            parts.append(f"{action} (explicitly denied by {'; '.join(decision.denied_by)})")
        else:
            parts.append(f"{action} (not granted)")
    return f"The role lacks permissions its code needs: {', '.join(parts)}."


def _evaluate(
    documents: Any, boundary: Any, detected: list[str], *, extra_details: dict[str, Any] | None = None
) -> Outcome:
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
        return Outcome(Status.INVALID, error=error, granted=granted, denied=denied, missing=missing, details=details)
    return Outcome(Status.VALID, granted=granted, denied=denied, missing=[], details=details)


def _trust_problems(role: ConnectionRole, info: dict[str, Any], source: _AwsSource) -> list[str]:
    problems = iam_policy.analyze_trust_policy(
        info.get("AssumeRolePolicyDocument") or {},
        platform_account_id=source.trusted_account,
        external_id=source.external_id,
    )
    maximum = int(info.get("MaxSessionDuration") or SESSION_DURATION_DEFAULT)
    if role.session_duration and role.session_duration > maximum:
        problems.append(
            f"The session duration ({role.session_duration} s) is longer than the role's maximum session "
            f"duration ({maximum} s): raise the role's MaxSessionDuration or shorten the session."
        )
    return problems


def _validate_aws(
    role: ConnectionRole, *, detected: list[str], actor: Any, sign_assertion: Callable[[str], str] | None
) -> Outcome:
    from botocore.exceptions import ClientError

    connection = role.connection
    region = str(connection.config.get("region") or "us-east-1")
    with ExitStack() as stack:
        source = _aws_source(connection, region, actor=actor, stack=stack)
        session = _assume(role, source, region)
        if isinstance(session, Outcome):
            return session
        reader = _IamReader(region, session, source.credentials)
        try:
            info = reader.call("get_role", RoleName=role.role_arn.rsplit("/", 1)[-1])["Role"]
            problems = _trust_problems(role, info, source)
            if problems:
                return Outcome(Status.INVALID, error="\n".join(problems), details={"trust_problems": problems})
            documents, boundary = reader.policies(info)
        except ClientError as exc:
            if _aws_error(exc)[0] == "NoSuchEntity":
                return _expired()
            raise
    return _evaluate(documents, boundary, detected, extra_details={"policies": sorted(documents)})


# --------------------------------------------------------------------------------------------------
# Azure
# --------------------------------------------------------------------------------------------------


class ArmError(Exception):
    """Azure Resource Manager answered with an error status; the message is ARM's own."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Azure Resource Manager answered {status}: {message}")
        self.status = status


def _ca_file() -> str | None:
    return getattr(settings, "AZURE_CA_BUNDLE", None) or None


def _platform_signer(connection: Connection) -> Callable[[str], str] | None:
    """The platform's OIDC issuer (identity app), when installed: signs the federated client assertion."""
    try:
        from identity.keys import sign_assertion, subject_for
    except ImportError:
        return None
    subject = subject_for(connection.org.slug, connection.name)
    return lambda audience: sign_assertion(audience=audience, subject=subject)


def _azure_token(auth_method: str, config: dict[str, Any], secrets: dict[str, Any], signer: Any) -> str:
    """A management-plane token for the connection's service principal (secret or federated assertion)."""
    from azure.identity import ClientAssertionCredential, ClientSecretCredential

    options: dict[str, Any] = {"authority": endpoint("azure_authority"), "disable_instance_discovery": True}
    if _ca_file():
        options["connection_verify"] = _ca_file()
    tenant, client_id = config["tenant_id"], config["client_id"]
    if auth_method == "client_secret":
        credential: Any = ClientSecretCredential(tenant, client_id, secrets["client_secret"], **options)
    else:
        credential = ClientAssertionCredential(tenant, client_id, lambda: signer(AZURE_FEDERATED_AUDIENCE), **options)
    try:
        return credential.get_token(f"{endpoint('azure_management')}/.default").token
    finally:
        credential.close()


class _Arm:
    """GETs against Azure Resource Manager through the SSRF guard (`nextLink` comes from the server)."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._ca_data: str | None = None
        if _ca_file():
            with open(_ca_file(), encoding="utf-8") as handle:
                self._ca_data = handle.read()

    def get(self, url: str) -> dict[str, Any]:
        from core.netguard import guarded_request

        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        response = guarded_request("GET", url, headers=headers, timeout=_timeout(), ca_data=self._ca_data)
        if response.status != 200:
            try:
                message = str(response.json().get("error", {}).get("message") or "")
            except Exception:
                message = ""
            raise ArmError(response.status, masking.mask(message or response.text[:200]))
        return response.json()

    def role_assignments(self, subscription_id: str, principal_id: str) -> list[dict[str, Any]]:
        query = f"api-version={AZURE_ROLE_API_VERSION}&$filter=" + quote(f"principalId eq '{principal_id}'")
        url = (
            f"{endpoint('azure_management')}/subscriptions/{subscription_id}"
            f"/providers/Microsoft.Authorization/roleAssignments?{query}"
        )
        items: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES):
            page = self.get(url)
            items.extend(page.get("value") or [])
            url = page.get("nextLink") or ""
            if not url:
                return items
        raise RuntimeError(f"Role assignments span more than {_MAX_PAGES} pages.")

    def role_definition(self, definition_id: str) -> dict[str, Any]:
        return self.get(f"{endpoint('azure_management')}{definition_id}?api-version={AZURE_ROLE_API_VERSION}")


def _azure_allows(definitions: Iterable[dict[str, Any]], action: str) -> bool:
    """Azure RBAC: some permission block of an assigned role matches the operation and does not exclude it."""
    for definition in definitions:
        for block in (definition.get("properties") or {}).get("permissions") or []:
            allowed = [*(block.get("actions") or []), *(block.get("dataActions") or [])]
            excluded = [*(block.get("notActions") or []), *(block.get("notDataActions") or [])]
            if any(iam_policy.action_matches(p, action) for p in allowed) and not any(
                iam_policy.action_matches(p, action) for p in excluded
            ):
                return True
    return False


def _assignment_label(assignment: dict[str, Any], definition: dict[str, Any], subscription_id: str) -> str:
    """The role's name, with the scope when it is narrower or wider than the subscription."""
    props = assignment.get("properties") or {}
    name = (definition.get("properties") or {}).get("roleName") or props.get("roleDefinitionId", "").rsplit("/", 1)[-1]
    scope = str(props.get("scope") or "")
    return name if scope.lower() in ("", f"/subscriptions/{subscription_id}".lower()) else f"{name} ({scope})"


def _no_assignment(subscription_id: str, detected: list[str]) -> Outcome:
    return Outcome(
        Status.INVALID,
        error=f"The service principal has no role assignment on subscription {subscription_id}.",
        granted=[],
        denied=[],
        missing=list(detected),
    )


def _validate_azure(
    role: ConnectionRole, *, detected: list[str], actor: Any, sign_assertion: Callable[[str], str] | None
) -> Outcome:
    from azure.core.exceptions import ClientAuthenticationError

    from .runtime import use_credentials

    connection = role.connection
    subscription_id = str(connection.config["subscription_id"])
    signer = sign_assertion
    if connection.auth_method == "federated" and signer is None:
        signer = _platform_signer(connection)
        if signer is None:
            return Outcome(
                Status.ERROR,
                error="Federated validation needs the OIDC issuer: the platform cannot sign a client assertion.",
            )
    with use_credentials(connection, actor=actor, purpose="role-validation", resource=f"role {role.pk}") as creds:
        try:
            token = _azure_token(connection.auth_method, creds.config, creds.secrets, signer)
        except ClientAuthenticationError as exc:
            message = " ".join(str(exc.message or exc).split())
            return Outcome(Status.ERROR, error=masking.mask(f"Authentication failed: {message}")[:_ERROR_LIMIT])
        arm = _Arm(token)
        try:
            assignments = arm.role_assignments(subscription_id, role.object_id)
        except ArmError as exc:
            # A principal with no role at all may not even list role assignments.
            if exc.status == 403 and role.client_id == str(connection.config.get("client_id", "")).lower():
                return _no_assignment(subscription_id, detected)
            raise
        if not assignments:
            return _no_assignment(subscription_id, detected)
        definition_ids = sorted({(a.get("properties") or {}).get("roleDefinitionId", "") for a in assignments} - {""})
        definitions = {definition_id: arm.role_definition(definition_id) for definition_id in definition_ids}
    granted = sorted(
        {
            _assignment_label(
                a, definitions.get((a.get("properties") or {}).get("roleDefinitionId", ""), {}), subscription_id
            )
            for a in assignments
        },
        key=lambda g: (g.lower(), g),
    )
    missing = [action for action in detected if not _azure_allows(definitions.values(), action)]
    details = {"role_definitions": definition_ids}
    if missing:
        error = f"The service principal's roles do not allow operations its code needs: {', '.join(missing)}."
        return Outcome(Status.INVALID, error=error, granted=granted, denied=[], missing=missing, details=details)
    return Outcome(Status.VALID, granted=granted, denied=[], missing=[], details=details)


_VALIDATORS: dict[str, Callable[..., Outcome]] = {"aws": _validate_aws, "azure": _validate_azure}
