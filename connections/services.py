"""State changes of connections: one `do_*` function per change.

Each asks the policy module, changes state in one transaction (locking the row it changes), and
writes one audit event in that transaction. Secret values enter here (create, rotate) and leave only
through `connections.runtime.use_credentials`; nothing in this module returns or logs them.

Transactions follow the rule in `accounts/services.py`: durable unless legitimately nested.
Durable: `do_create_connection`, `do_rotate_credentials`, `do_set_active`, `do_set_authorizations`,
`do_rewrap_connection_secrets` (one row at a time, from a command). Plain `atomic`:
`do_authorize_environment` and `do_revoke_environment` (`do_set_authorizations` calls them in its
transaction), `do_update_connection`, `do_delete_connection` and `do_revoke_environment` (Django's
admin calls them inside its own transaction).

Work done on a worker (a connection test, a role validation) is asked for with `do_request_*`: they
check the policy and send the task with `core.queue.send_on_commit` (ids only, after the commit).
They live here rather than next to the work (`verification.py`, `role_validation.py`) because
`tasks.py` imports those modules to run it; imports go one way: pages and API -> services -> tasks
-> verification, role_validation. Pages and API never call `.delay` themselves.
"""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from celery.result import AsyncResult
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actors import acting_user
from accounts.audit import record_event
from accounts.choices import PLAN_ORDER, AuditAction, PlanChoices
from accounts.models import Environment, Organization
from accounts.policy import Action, check
from core import crypto
from core.queue import send_on_commit

from .choices import ConnectionStatusChoices
from .models import Connection, ConnectionAuthorization, ConnectionRole
from .providers import ProviderValidationError, UnknownProvider, get_provider
from .secrets import drop_placeholders, load_secrets, secret_context, store_secrets
from .tasks import test_connection_task, validate_role_task


class PlanLimitError(PermissionDenied):
    """The organization's plan does not allow this connection; the message names the plan needed."""

    code = "plan_limit"


PLAN_LABELS = dict(PlanChoices.choices)


def _errors(exc: ProviderValidationError, prefix: Callable[[str], str]) -> ValidationError:
    """Provider field errors keyed the way the API body is shaped (config.x / secrets.x)."""
    keyed: dict[str, list[str]] = {}
    for key, messages in exc.errors.items():
        keyed[key if key in ("auth_method", "non_field_errors") else f"{prefix(key)}.{key}"] = messages
    return ValidationError(keyed)


def _field_prefix(spec: Any, auth_method: str) -> Callable[[str], str]:
    secret_names = {f.name for f in spec.secret_fields(auth_method)} if auth_method in spec.auth_method_codes else set()
    return lambda name: "secrets" if name in secret_names else "config"


# --- Plan limits ----------------------------------------------------------------------------------


def check_plan_allows(org: Organization, provider: str) -> None:
    """Free: one cloud provider type; Starter: several; Enterprise: also on-prem (DESIGN.md)."""
    spec = get_provider(provider)
    plan_rank = PLAN_ORDER[org.plan]
    if PLAN_ORDER[spec.requires_plan] > plan_rank:
        raise PlanLimitError(
            f"{spec.label} connections need the {PLAN_LABELS[spec.requires_plan]} plan; "
            f"'{org.slug}' is on the {PLAN_LABELS[org.plan]} plan."
        )
    if spec.category == "cloud" and org.plan == PlanChoices.FREE:
        others = sorted(
            set(
                Connection.objects.filter(org=org, category="cloud")
                .exclude(provider=provider)
                .values_list("provider", flat=True)
            )
        )
        if others:
            raise PlanLimitError(
                f"The Free plan allows one cloud provider type ('{others[0]}' is in use); "
                f"adding '{provider}' needs the Starter plan."
            )


# --- Create / update ------------------------------------------------------------------------------


def _environments(org: Organization, slugs: Iterable[str]) -> list[Environment]:
    slugs = list(dict.fromkeys(slugs or []))
    found = {e.slug: e for e in Environment.objects.filter(org=org, slug__in=slugs)}
    missing = [s for s in slugs if s not in found]
    if missing:
        raise ValidationError({"environments": f"Unknown environment(s): {', '.join(map(str, missing))}."})
    return [found[s] for s in slugs]


def _resolve_reference(org: Organization, spec: Any, auth_method: str, config: dict[str, Any]) -> Connection | None:
    ref_field = spec.ref_field(auth_method)
    if ref_field is None or not config.get(ref_field.name):
        return None
    name = config[ref_field.name]
    ref = Connection.objects.filter(org=org, name=name).first()
    if ref is None:
        raise ValidationError({f"config.{ref_field.name}": f"No connection named '{name}' in {org.slug}."})
    if ref.provider not in ref_field.ref_providers:
        allowed = ", ".join(ref_field.ref_providers)
        raise ValidationError({f"config.{ref_field.name}": f"'{name}' is a {ref.provider} connection; use {allowed}."})
    if ref.cloud_connection_id is not None:
        raise ValidationError({f"config.{ref_field.name}": f"'{name}' itself refers to another connection."})
    return ref


def _authorize(connection: Connection, env: Environment, actor: Any) -> ConnectionAuthorization:
    existing = (
        ConnectionAuthorization.objects.filter(environment=env, provider=connection.provider)
        .exclude(connection=connection)
        .select_related("connection")
        .first()
    )
    if existing is not None:
        raise ValidationError(
            {
                "environments": f"Environment '{env.slug}' already has a {connection.provider} connection "
                f"('{existing.connection.name}'); revoke it there first."
            }
        )
    try:
        with transaction.atomic():
            auth, _ = ConnectionAuthorization.objects.get_or_create(
                connection=connection,
                environment=env,
                defaults={"org": connection.org, "provider": connection.provider, "created_by": _user(actor)},
            )
    except IntegrityError:  # a concurrent authorization won the (environment, provider) slot
        raise ValidationError(
            {"environments": f"Environment '{env.slug}' already has a {connection.provider} connection."}
        ) from None
    return auth


def _user(actor: Any) -> Any:
    return acting_user(actor)


@transaction.atomic(durable=True)
def do_create_connection(
    org: Organization,
    *,
    actor: Any,
    name: str,
    provider: str,
    auth_method: str,
    config: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    environments: Iterable[str] = (),
    description: str = "",
) -> Connection:
    """Validate through the provider module, check the plan, encrypt the secrets, authorize environments."""
    check(actor, Action.MANAGE_CONNECTIONS, org)
    try:
        spec = get_provider(provider)
    except UnknownProvider as exc:
        raise ValidationError({"provider": exc.message}) from None
    try:
        clean_config, clean_secrets = spec.clean(auth_method, dict(config or {}), drop_placeholders(secrets))
    except ProviderValidationError as exc:
        raise _errors(exc, _field_prefix(spec, auth_method)) from None
    connection = Connection(
        org=org,
        name=name,
        provider=provider,
        auth_method=auth_method,
        config=clean_config,
        description=description,
        created_by=_user(actor),
        updated_by=_user(actor),
    )
    connection.category = spec.category
    try:
        connection.full_clean(exclude=["config"], validate_constraints=False)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None
    if Connection.objects.filter(org=org, name=name).exists():
        raise ValidationError({"name": f"A connection named '{name}' already exists in {org.slug}."})
    check_plan_allows(org, provider)
    envs = _environments(org, environments)
    connection.cloud_connection = _resolve_reference(org, spec, auth_method, clean_config)
    if spec.external_id_required(auth_method):
        connection.external_id = pysecrets.token_urlsafe(32)
    store_secrets(connection, clean_secrets)
    try:
        with transaction.atomic():
            connection.save(force_insert=True)
    except IntegrityError:
        raise ValidationError({"name": f"A connection named '{name}' already exists in {org.slug}."}) from None
    for env in envs:
        _authorize(connection, env, actor)
    record_event(
        org=org,
        action=AuditAction.CONNECTION_CREATED,
        actor=actor,
        target=connection,
        details={
            "provider": provider,
            "auth_method": auth_method,
            "config": clean_config,
            "secret_fields": connection.secret_fields_set,
            "environments": [e.slug for e in envs],
        },
    )
    return connection


def _locked(connection: Connection) -> Connection:
    return Connection.objects.select_for_update().select_related("org").get(pk=connection.pk)


@transaction.atomic
def do_update_connection(
    connection: Connection,
    *,
    actor: Any,
    name: str | None = None,
    description: str | None = None,
    config: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Connection:
    """Edit public fields (partial).

    A change to where the secret is sent (the provider's `destination_fields`: a URL, host, port or CA)
    must carry every secret of the auth method again in `secrets`, so nobody can point a stored secret
    at a host they control. Secrets sent without such a change replace the stored ones, like a rotation.
    """
    check(actor, Action.MANAGE_CONNECTIONS, connection)
    connection = _locked(connection)
    spec = connection.provider_spec
    changes: dict[str, Any] = {}
    given = drop_placeholders(secrets)
    secret_fields = spec.secret_fields(connection.auth_method)
    if given and not secret_fields:
        raise ValidationError({"secrets": f"The {connection.auth_method} auth method stores no secret."})
    if config:
        secret_names = {f.name for f in secret_fields}
        sent_secrets = sorted(k for k in config if k in secret_names)
        if sent_secrets:
            raise ValidationError({f"config.{k}": "This field is secret: send it in secrets." for k in sent_secrets})
    if config or given:
        try:
            merged, clean_secrets = spec.clean(
                connection.auth_method, {**connection.config, **(config or {})}, given, partial=True
            )
        except ProviderValidationError as exc:
            raise _errors(exc, _field_prefix(spec, connection.auth_method)) from None
        _require_secrets_for_new_destination(connection, merged, clean_secrets)
        if merged != connection.config:
            ref = _resolve_reference(connection.org, spec, connection.auth_method, merged)
            changes["config"] = {"old": connection.config, "new": merged}
            connection.config, connection.cloud_connection = merged, ref
        if clean_secrets:
            store_secrets(connection, {**load_secrets(connection), **clean_secrets})
            connection.credentials_rotated_at = timezone.now()
            changes["secret_fields"] = sorted(clean_secrets)
    if name is not None and name != connection.name:
        if Connection.objects.filter(org=connection.org, name=name).exclude(pk=connection.pk).exists():
            raise ValidationError({"name": f"A connection named '{name}' already exists in {connection.org.slug}."})
        changes["name"] = {"old": connection.name, "new": name}
        connection.name = name
        # Connections that refer to this one by name (ECR, state backends) follow the rename.
        for dependent in connection.dependents.select_for_update():
            ref_field = dependent.provider_spec.ref_field(dependent.auth_method)
            if ref_field is not None:
                dependent.config = {**dependent.config, ref_field.name: name}
                dependent.save(update_fields=["config", "updated_at"])
    if description is not None and description != connection.description:
        changes["description"] = {"old": connection.description, "new": description}
        connection.description = description
    if not changes:
        return connection
    try:
        connection.full_clean(exclude=["config"], validate_constraints=False)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None
    connection.updated_by = _user(actor)
    connection.save()
    record_event(
        org=connection.org,
        action=AuditAction.CONNECTION_UPDATED,
        actor=actor,
        target=connection,
        details={"changes": changes},
    )
    return connection


def _require_secrets_for_new_destination(
    connection: Connection, merged: dict[str, Any], given: dict[str, Any]
) -> None:
    """Moving a stored secret to a new destination needs every secret field typed again."""
    spec = connection.provider_spec
    moved = spec.destination_moves(connection.auth_method, connection.config, merged)
    if not moved:
        if given:
            raise ValidationError(
                {"secrets": "Secrets change through rotate; an update takes them only with a new destination."}
            )
        return
    if not connection.secrets_envelope:
        return
    labels = {f.name: f.label for f in spec.fields}
    where = ", ".join(labels.get(f, f) for f in moved)
    missing = [f.name for f in spec.secret_fields(connection.auth_method) if f.name not in given]
    if missing:
        message = f"Enter it again: changing the {where} would send the stored secret to a new destination."
        raise ValidationError({f"secrets.{name}": [message] for name in missing})


@transaction.atomic(durable=True)
def do_rotate_credentials(connection: Connection, *, actor: Any, secrets: dict[str, Any]) -> Connection:
    """Replace secret fields (all or some); placeholders such as `***` mean "keep the stored value"."""
    check(actor, Action.MANAGE_CONNECTIONS, connection)
    connection = _locked(connection)
    spec = connection.provider_spec
    given = drop_placeholders(secrets)
    if not spec.secret_fields(connection.auth_method):
        raise ValidationError({"secrets": f"The {connection.auth_method} auth method stores no secret to rotate."})
    if not given:
        raise ValidationError({"secrets": "Send at least one new secret value."})
    try:
        _, clean = spec.clean(connection.auth_method, {}, given, partial=True)
    except ProviderValidationError as exc:
        raise _errors(exc, lambda _name: "secrets") from None
    merged = {**load_secrets(connection), **clean}
    store_secrets(connection, merged)
    connection.credentials_rotated_at = timezone.now()
    connection.updated_by = _user(actor)
    connection.save()
    record_event(
        org=connection.org,
        action=AuditAction.CONNECTION_CREDENTIALS_ROTATED,
        actor=actor,
        target=connection,
        details={"secret_fields": sorted(clean), "fingerprints": {k: connection.secret_fingerprints[k] for k in clean}},
    )
    return connection


@transaction.atomic(durable=True)
def do_set_active(connection: Connection, *, actor: Any, active: bool) -> Connection:
    """Activate or deactivate. A deactivated connection is never selected or used."""
    check(actor, Action.MANAGE_CONNECTIONS, connection)
    connection = _locked(connection)
    new = ConnectionStatusChoices.ACTIVE if active else ConnectionStatusChoices.INACTIVE
    if connection.status == new:
        return connection
    old = connection.status
    connection.status = new
    connection.updated_by = _user(actor)
    connection.save(update_fields=["status", "updated_by", "updated_at"])
    record_event(
        org=connection.org,
        action=AuditAction.CONNECTION_ACTIVATED if active else AuditAction.CONNECTION_DEACTIVATED,
        actor=actor,
        target=connection,
        details={"old": old, "new": new},
    )
    return connection


# --- Environment authorization --------------------------------------------------------------------


@transaction.atomic
def do_authorize_environment(connection: Connection, environment: Environment, *, actor: Any) -> bool:
    """Authorize for one environment; False when it already was. Takes effect for the next use."""
    check(actor, Action.MANAGE_CONNECTIONS, connection)
    connection = _locked(connection)
    if environment.org_id != connection.org_id:
        raise ValidationError({"environment": "Unknown environment."})
    if ConnectionAuthorization.objects.filter(connection=connection, environment=environment).exists():
        return False
    _authorize(connection, environment, actor)
    record_event(
        org=connection.org,
        action=AuditAction.CONNECTION_AUTHORIZED,
        actor=actor,
        target=connection,
        environment=environment.slug,
    )
    return True


@transaction.atomic
def do_revoke_environment(connection: Connection, environment: Environment, *, actor: Any) -> bool:
    check(actor, Action.MANAGE_CONNECTIONS, connection)
    connection = _locked(connection)
    deleted, _ = ConnectionAuthorization.objects.filter(connection=connection, environment=environment).delete()
    if not deleted:
        return False
    record_event(
        org=connection.org,
        action=AuditAction.CONNECTION_DEAUTHORIZED,
        actor=actor,
        target=connection,
        environment=environment.slug,
    )
    return True


@transaction.atomic(durable=True)
def do_set_authorizations(connection: Connection, environments: Iterable[str], *, actor: Any) -> list[str]:
    """Make the authorized set exactly `environments` (slugs); returns the resulting slugs."""
    check(actor, Action.MANAGE_CONNECTIONS, connection)
    wanted = {e.slug: e for e in _environments(connection.org, environments)}
    current = {
        a.environment.slug: a.environment
        for a in ConnectionAuthorization.objects.filter(connection=connection).select_related("environment")
    }
    for slug in sorted(set(current) - set(wanted)):
        do_revoke_environment(connection, current[slug], actor=actor)
    for slug in sorted(set(wanted) - set(current)):
        do_authorize_environment(connection, wanted[slug], actor=actor)
    return sorted(wanted)


# --- Counts other apps show on connection cards (e.g. linked Terraform projects) -----------------------

# Each counter takes connection ids and returns {id: count} in one query; registered by apps above this one.
CARD_COUNTERS: list[tuple[str, str, Callable[[list[Any]], dict[Any, int]]]] = []


def register_card_counter(singular: str, plural: str, func: Callable[[list[Any]], dict[Any, int]]) -> None:
    CARD_COUNTERS.append((singular, plural, func))


def card_counts(connections: list[Connection]) -> None:
    """Attach `linked_counts` ([(label, count)]) to each connection: one query per registered counter."""
    ids = [c.pk for c in connections]
    results = [(singular, plural, func(ids) if ids else {}) for singular, plural, func in CARD_COUNTERS]
    for connection in connections:
        connection.linked_counts = [
            (singular if counts.get(connection.pk, 0) == 1 else plural, counts.get(connection.pk, 0))
            for singular, plural, counts in results
        ]


# --- Delete ---------------------------------------------------------------------------------------


@dataclass
class DependentGroup:
    """One kind of object a deletion affects, e.g. Terraform projects (blocking) or roles (deleted)."""

    key: str
    label: str
    blocking: bool
    items: list[str] = field(default_factory=list)
    count: int = 0


# Apps that own objects hanging off a connection register a function here (projects, roles, costs).
DELETION_DEPENDENTS: list[Callable[[Connection], DependentGroup]] = []


def register_deletion_dependent(func: Callable[[Connection], DependentGroup]) -> Callable[[Connection], DependentGroup]:
    DELETION_DEPENDENTS.append(func)
    return func


@register_deletion_dependent
def _dependent_connections(connection: Connection) -> DependentGroup:
    names = list(connection.dependents.order_by("name").values_list("name", flat=True))
    return DependentGroup("connections", "Connections that use its credentials", True, names, len(names))


@register_deletion_dependent
def _roles(connection: Connection) -> DependentGroup:
    names = [str(role) for role in connection.roles.order_by("created_at")]
    return DependentGroup("roles", "Connection roles", False, names, len(names))


@register_deletion_dependent
def _cost_records(connection: Connection) -> DependentGroup:
    return DependentGroup("cost_records", "FinOps cost records", False, [], 0)


@register_deletion_dependent
def _sync_jobs(connection: Connection) -> DependentGroup:
    return DependentGroup("sync_jobs", "FinOps sync jobs", False, [], 0)


@register_deletion_dependent
def _authorizations(connection: Connection) -> DependentGroup:
    slugs = list(connection.authorizations.order_by("environment__slug").values_list("environment__slug", flat=True))
    return DependentGroup("authorizations", "Environment authorizations", False, slugs, len(slugs))


@register_deletion_dependent
def _usage(connection: Connection) -> DependentGroup:
    return DependentGroup("usage", "Usage history records", False, [], connection.usages.count())


@dataclass
class DeletionPreview:
    connection: Connection
    groups: list[DependentGroup]

    @property
    def blocked(self) -> bool:
        return any(g.blocking and g.count for g in self.groups)

    @property
    def blockers(self) -> list[DependentGroup]:
        return [g for g in self.groups if g.blocking and g.count]

    def as_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection.name,
            "can_delete": not self.blocked,
            "blocking": {
                g.key: {"label": g.label, "count": g.count, "items": g.items} for g in self.groups if g.blocking
            },
            "will_delete": {
                g.key: {"label": g.label, "count": g.count, "items": g.items} for g in self.groups if not g.blocking
            },
        }


def deletion_preview(connection: Connection, *, actor: Any) -> DeletionPreview:
    check(actor, Action.VIEW, connection)
    return DeletionPreview(connection, [func(connection) for func in DELETION_DEPENDENTS])


@transaction.atomic
def do_delete_connection(connection: Connection, *, actor: Any) -> DeletionPreview:
    """Delete unless something blocks it (Terraform projects, connections that use it)."""
    check(actor, Action.MANAGE_CONNECTIONS, connection)
    connection = _locked(connection)
    preview = deletion_preview(connection, actor=actor)
    if preview.blocked:
        reasons = "; ".join(f"{g.label}: {', '.join(g.items) or g.count}" for g in preview.blockers)
        raise ValidationError({"non_field_errors": f"'{connection.name}' cannot be deleted while in use. {reasons}."})
    record_event(
        org=connection.org,
        action=AuditAction.CONNECTION_DELETED,
        actor=actor,
        target=connection,
        details={"provider": connection.provider, "preview": preview.as_dict()["will_delete"]},
    )
    connection.delete()
    return preview


# --- Key-ring rotation ----------------------------------------------------------------------------


@transaction.atomic(durable=True)
def do_rewrap_connection_secrets(connection_pk: Any, *, ring: crypto.KeyRing) -> bool:
    """Re-wrap one connection's data key to the ring's primary key (the platform acts, as "system").

    Locks the row, so a concurrent rotation or re-wrap waits; returns False when there is nothing to
    do (deleted, no secrets, or already on the primary key), which makes re-runs cheap and safe.
    """
    connection = Connection.objects.select_for_update().select_related("org").filter(pk=connection_pk).first()
    if (
        connection is None
        or not connection.secrets_envelope
        or not crypto.needs_rewrap(connection.secrets_envelope, ring)
    ):
        return False
    old_kid = crypto.envelope_kid(connection.secrets_envelope)
    envelope = crypto.rewrap(connection.secrets_envelope, context=secret_context(connection), ring=ring)
    Connection.objects.filter(pk=connection.pk).update(secrets_envelope=envelope, secrets_key_id=ring.primary.kid)
    record_event(
        org=connection.org,
        action=AuditAction.CONNECTION_KEY_REWRAPPED,
        target=connection,
        details={"old_key_id": old_kid, "new_key_id": ring.primary.kid},
    )
    return True


# --- Work done on a worker: tests and role validations --------------------------------------------


def _user_id(actor: Any) -> int | None:
    """The id the task re-reads its actor from (None: the platform); a message carries ids only."""
    user = acting_user(actor)
    return user.pk if user is not None else None


def do_request_connection_test(connection: Connection, *, actor: Any) -> AsyncResult:
    """Ask for a test of the connection (the Test button, the API): `test_connection_task`, sent on commit.

    Changes nothing itself: the task runs `verification.run_check`, which re-checks the policy and saves
    the result. In eager mode the test has run when this returns (see `core.queue.send_on_commit`).
    """
    check(actor, Action.TEST_CONNECTION, connection)
    return send_on_commit(test_connection_task, str(connection.pk), actor_user_id=_user_id(actor))


def do_request_role_validation(role: ConnectionRole, *, actor: Any) -> AsyncResult:
    """Ask for a validation of the role: `validate_role_task`, sent on commit (it runs
    `role_validation.do_validate_role`, which re-checks the policy). Eager mode: done on return."""
    check(actor, Action.MANAGE_ROLES, role.connection)
    return send_on_commit(validate_role_task, role.pk, _user_id(actor))
