"""Connection roles: adding them, validating them against the cloud, and the check before each use.

A connection role is the identity Terraform works as (an AWS IAM role, an Azure service principal,
...). Which providers take roles, which fields describe one, how they are cleaned and how the cloud is
asked is each provider's `role_support` (`connections.providers.contract.RoleSupport`); this module
is what is the same for all of them: validation answers the questions of the role status table
(seeds/004, "Role Validation"): can the platform use it, what is it granted and explicitly denied,
does that cover what the code needs (detected permissions), and has it changed since it was last valid.

Shape of a validation (`do_validate_role`): the role is marked `validating` in its own short
transaction (so pages show progress and nothing holds a row lock across network calls), the cloud is
asked with no transaction open, and the result is written in a second transaction together with its
audit event. Re-validating is always safe (the Celery task relies on it).

Transactions: `do_add_role`, `do_delete_role` and both transactions of `do_validate_role` are durable
(`transaction.atomic(durable=True)`): nothing calls them inside another transaction, and for a
validation that is the point (no row lock may be held while the cloud is asked). Calling one inside a
transaction raises instead of nesting silently. A page or the API asks for a validation through
`services.do_request_role_validation`, which sends `tasks.validate_role_task` (that task imports this
module, so the request cannot live here).

Statuses: `invalid` = cannot be assumed, unsafe trust, or missing permissions; `drift` = usable but
granted/denied permissions differ from the last validation that ended valid or drift; `expired` = the
role is gone; `error` = the check itself could not complete (network, credentials, bad policy JSON),
with the details masked by `core.masking`. `ROLE_VALIDATION_TIMEOUT` bounds each call to the cloud.

Advice: the provider also reports least-privilege findings (`RoleOutcome.advice`: wildcard actions,
every resource, administrator policies); they are stored on the role (`advice`) and shown, and never
change its status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actors import acting_user
from accounts.audit import record_event
from accounts.choices import AuditAction
from accounts.policy import Action, check
from core import masking
from core.netguard import GuardError
from identity.keys import sign_assertion, subject_for

from .choices import RoleStatusChoices
from .models import Connection, ConnectionRole
from .providers import REGISTRY, Provider, ProviderValidationError
from .providers.contract import RoleOutcome, RoleRequest, RoleSupport
from .runtime import use_credentials

logger = logging.getLogger(__name__)

Status = RoleStatusChoices

# Statuses a run may proceed with: drift means "changed", not "broken" (missing permissions are invalid).
USABLE_STATUSES = frozenset({Status.VALID, Status.DRIFT})
_ERROR_LIMIT = 4000


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
# Which providers take roles
# --------------------------------------------------------------------------------------------------


def role_providers() -> list[Provider]:
    """The providers whose connections take connection roles, in registry order."""
    return [spec for spec in REGISTRY.values() if spec.role_support is not None]


def role_support_for(connection: Connection) -> RoleSupport | None:
    return connection.provider_spec.role_support


def roles_unsupported_message() -> str:
    labels = [spec.label for spec in role_providers()]
    listed = " and ".join([", ".join(labels[:-1]), labels[-1]] if len(labels) > 1 else labels)
    return f"Connection roles are for {listed} connections."


# --------------------------------------------------------------------------------------------------
# Adding and deleting roles
# --------------------------------------------------------------------------------------------------

ROLE_COLUMNS = ("role_arn", "session_duration", "client_id", "object_id")


def _field_label(name: str) -> str:
    """The label some provider gives a role field (for "does not apply" messages), else the column name."""
    for spec in role_providers():
        for field in spec.role_support.fields:
            if field.name == name:
                return field.label
    return name.replace("_", " ").capitalize()


def _clean(support: RoleSupport, connection: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """The provider's cleaning, plus "this field is not for this provider" for values it does not take."""
    own = {f.name for f in support.fields}
    errors: dict[str, list[str]] = {
        name: [f"{_field_label(name)} does not apply to {connection.provider_spec.label} connection roles."]
        for name in ROLE_COLUMNS
        if name not in own and data.get(name) not in (None, "")
    }
    try:
        fields = support.clean(connection.auth_method, dict(connection.config), {k: data.get(k) for k in own})
    except ProviderValidationError as exc:
        for key, messages in exc.errors.items():
            errors.setdefault(key, []).extend(messages)
        fields = {}
    if list(errors) == ["non_field_errors"]:
        raise ValidationError(errors["non_field_errors"])
    if errors:
        raise ValidationError(errors)
    return {**dict.fromkeys(ROLE_COLUMNS), **fields}


@transaction.atomic(durable=True)
def do_add_role(
    connection: Connection,
    *,
    actor: Any,
    name: str = "",
    **data: Any,
) -> ConnectionRole:
    """Add a role to a connection, as `pending`; `data` holds the provider's role fields (`role_support.fields`)."""
    check(actor, Action.MANAGE_ROLES, connection)
    support = role_support_for(connection)
    if support is None:
        raise ValidationError(roles_unsupported_message())
    unknown = sorted(set(data) - set(ROLE_COLUMNS))
    if unknown:
        raise TypeError(f"do_add_role() got unexpected role fields: {', '.join(unknown)}")
    fields = _clean(support, connection, data)
    name = (name or "").strip()
    if len(name) > 100:
        raise ValidationError({"name": ["Use at most 100 characters."]})
    connection = Connection.objects.select_for_update().select_related("org").get(pk=connection.pk)
    key = support.identity_field
    duplicate = f"This {support.noun} is already a role of '{connection.name}'."
    if ConnectionRole.objects.filter(connection=connection, **{key: fields[key]}).exists():
        raise ValidationError({key: [duplicate]})
    stored = {
        column: ("" if value is None and column != "session_duration" else value) for column, value in fields.items()
    }
    role = ConnectionRole(
        connection=connection,
        org=connection.org,
        name=name,
        created_by=acting_user(actor),
        status=Status.PENDING,
        **stored,
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
        details={
            "connection": connection.name,
            "provider": connection.provider,
            "name": name,
            **{f.name: fields[f.name] for f in support.fields},
        },
    )
    return role


@transaction.atomic(durable=True)
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
    with transaction.atomic(durable=True):
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


def _changes(previous: _Previous, outcome: RoleOutcome) -> dict[str, dict[str, list[str]]]:
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


def _record_outcome(role: ConnectionRole, outcome: RoleOutcome, previous: _Previous, *, actor: Any) -> ConnectionRole:
    with transaction.atomic(durable=True):
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
        if outcome.advice is not None:
            locked.advice = [advice.as_dict() for advice in outcome.advice]
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
                "advice": [advice["code"] for advice in locked.advice or []],
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


def _platform_signer(connection: Connection) -> Callable[[str], str]:
    """Signs the federated client assertion with the platform's OIDC issuer, for this connection's subject."""
    subject = subject_for(connection.org.slug, connection.name)
    return lambda audience: sign_assertion(audience=audience, subject=subject)


def _request(
    role: ConnectionRole, detected: list[str], *, actor: Any, sign_assertion: Callable[[str], str] | None
) -> RoleRequest:
    connection = role.connection
    support = role_support_for(connection)
    assert support is not None

    def credentials() -> AbstractContextManager[Any]:
        return use_credentials(connection, actor=actor, purpose="role-validation", resource=f"role {role.pk}")

    return RoleRequest(
        org_slug=connection.org.slug,
        connection_name=connection.name,
        auth_method=connection.auth_method,
        config=dict(connection.config),
        external_id=connection.external_id,
        role={"id": role.pk, **{f.name: getattr(role, f.name) for f in support.fields}},
        detected=detected,
        credentials=credentials,
        sign_assertion=sign_assertion or _platform_signer(connection),
        timeout=float(settings.ROLE_VALIDATION_TIMEOUT),
    )


def _run(role: ConnectionRole, *, actor: Any, sign_assertion: Callable[[str], str] | None) -> RoleOutcome:
    """Ask the cloud; any unexpected failure becomes an `error` outcome with a masked description."""
    detected: list[str] = []
    support = role_support_for(role.connection)
    try:
        detected = detected_permissions(role)
        if support is None:
            raise ValueError(roles_unsupported_message())
        outcome = support.validate(_request(role, detected, actor=actor, sign_assertion=sign_assertion))
    except Exception as exc:
        logger.warning("Validation of connection role %s failed: %s", role.pk, exc.__class__.__name__)
        outcome = RoleOutcome(Status.ERROR, error=f"Validation could not complete: {_describe(support, exc)}")
        outcome.transient = _is_transient(support, exc)
    outcome.detected = detected
    return outcome


def _describe(support: RoleSupport | None, exc: BaseException) -> str:
    """A one-line, masked reason: the cloud's own words when the provider knows them, else the exception."""
    text = (support.describe(exc) if support else None) or f"{exc.__class__.__name__}: {exc}"
    return masking.mask(" ".join(text.split()))[:_ERROR_LIMIT]


def _is_transient(support: RoleSupport | None, exc: BaseException) -> bool:
    """Network trouble or throttling: worth a retry, unlike a refusal or a bad policy."""
    if isinstance(exc, ConnectionError | TimeoutError | GuardError):
        return True
    return support is not None and support.is_transient(exc)
