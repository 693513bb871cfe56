"""State changes of connections: one `do_*` function per change.

Each asks the policy module, changes state in one transaction (locking the row it changes), and
writes one audit event in that transaction. Secret values enter here (create, rotate) and leave only
through `connections.runtime.use_credentials`; nothing in this module returns or logs them.

Transactions follow the rule in `accounts/services.py`: durable unless legitimately nested.
Durable: `do_create_connection`, `do_rotate_credentials`, `do_connect_oauth`, `do_set_active`,
`do_set_authorizations`, `do_set_default_connection`, `do_rewrap_connection_secrets` (one batch at a time,
from a command). Plain `atomic`:
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from celery.result import AsyncResult
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
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
from .providers.oauth import TokenGrant
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


def plan_limit_violations(org: Organization, plan: str) -> list[str]:
    """Why `org`'s connections would not fit `plan` (the same rules as `check_plan_allows`): the
    downgrade check of `accounts.services.do_change_plan`."""
    reasons: list[str] = []
    rank = PLAN_ORDER[plan]
    used = Connection.objects.filter(org=org).values_list("provider", "category", "name").order_by("name")
    needs_more: dict[str, list[str]] = {}
    cloud_types: set[str] = set()
    for provider, category, name in used:
        try:
            spec = get_provider(provider)
        except UnknownProvider:
            continue
        if PLAN_ORDER[spec.requires_plan] > rank:
            needs_more.setdefault(spec.requires_plan, []).append(name)
        if category == "cloud":
            cloud_types.add(provider)
    for needed, names in sorted(needs_more.items(), key=lambda item: PLAN_ORDER[item[0]]):
        reasons.append(
            f"{len(names)} connection(s) need the {PLAN_LABELS[needed]} plan: {', '.join(names[:5])}"
            f"{'…' if len(names) > 5 else ''}."
        )
    if plan == PlanChoices.FREE and len(cloud_types) > 1:
        reasons.append(
            f"The Free plan allows one cloud provider type; {len(cloud_types)} are in use "
            f"({', '.join(sorted(cloud_types))})."
        )
    return reasons


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
    """Authorize `connection` for `env`; it becomes the default when the environment has none for its provider.

    Several connections of a provider may be authorized for one environment (multi-account); the first
    is the default until someone names another (`do_set_default_connection`).
    """
    has_default = ConnectionAuthorization.objects.filter(
        environment=env, provider=connection.provider, is_default=True
    ).exists()
    try:
        with transaction.atomic():
            auth, _ = ConnectionAuthorization.objects.get_or_create(
                connection=connection,
                environment=env,
                defaults={
                    "org": connection.org,
                    "provider": connection.provider,
                    "created_by": _user(actor),
                    "is_default": not has_default,
                },
            )
    except IntegrityError:  # a concurrent authorization became the default first: this one is not
        auth, _ = ConnectionAuthorization.objects.get_or_create(
            connection=connection,
            environment=env,
            defaults={"org": connection.org, "provider": connection.provider, "created_by": _user(actor)},
        )
    return auth


def _promote_default(env: Environment, provider: str) -> ConnectionAuthorization | None:
    """After the default was revoked: the longest-authorized remaining connection becomes the default, so
    automatic selection keeps working; None when no connection of the provider is left there."""
    successor = (
        ConnectionAuthorization.objects.select_for_update()
        .filter(environment=env, provider=provider)
        .select_related("connection")
        .order_by("created_at", "pk")
        .first()
    )
    if successor is not None:
        successor.is_default = True
        successor.save(update_fields=["is_default", "updated_at"])
    return successor


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
    oauth: TokenGrant | None = None,
) -> Connection:
    """Validate through the provider module, check the plan, encrypt the secrets, authorize environments.

    `oauth` is what an OAuth authorization-code flow granted (`connections.oauth_flow`): its tokens become
    the secrets, its scopes and expiry are recorded on the connection.
    """
    check(actor, Action.MANAGE_CONNECTIONS, org)
    try:
        spec = get_provider(provider)
    except UnknownProvider as exc:
        raise ValidationError({"provider": exc.message}) from None
    if oauth is not None:
        secrets = oauth.secrets()
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
    if oauth is not None:
        connection.oauth_scopes, connection.oauth_expires_at = oauth.scopes, oauth.expires_at
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
            **({"oauth": oauth.public()} if oauth is not None else {}),
        },
    )
    return connection


def check_oauth_draft(
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
) -> dict[str, Any]:
    """Everything `do_create_connection` will check, except the secrets the OAuth flow is about to obtain,
    so a user is not sent to consent on the provider for a connection that could not be created.

    Returns the draft (the create arguments, JSON-able) that the flow keeps in the session. Changes nothing.
    """
    check(actor, Action.MANAGE_CONNECTIONS, org)
    try:
        spec = get_provider(provider)
    except UnknownProvider as exc:
        raise ValidationError({"provider": exc.message}) from None
    if spec.oauth_for(auth_method) is None:
        raise ValidationError({"auth_method": f"The {auth_method} method of {spec.label} has no OAuth flow."})
    secret_names = {f.name for f in spec.secret_fields(auth_method)}
    try:
        clean_config, _ = spec.clean(auth_method, dict(config or {}), {})
    except ProviderValidationError as exc:
        remaining = {key: messages for key, messages in exc.errors.items() if key not in secret_names}
        if remaining:
            raise _errors(ProviderValidationError(remaining), _field_prefix(spec, auth_method)) from None
        clean_config = {k: v for k, v in dict(config or {}).items() if k not in secret_names}
    probe = Connection(org=org, name=name, provider=provider, auth_method=auth_method, description=description)
    try:
        probe.full_clean(exclude=["config", "category"], validate_constraints=False, validate_unique=False)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None
    if Connection.objects.filter(org=org, name=name).exists():
        raise ValidationError({"name": f"A connection named '{name}' already exists in {org.slug}."})
    check_plan_allows(org, provider)
    envs = _environments(org, environments)
    return {
        "name": name,
        "provider": provider,
        "auth_method": auth_method,
        "config": dict(config or {}),
        "clean_config": clean_config,
        "environments": [env.slug for env in envs],
        "description": description,
    }


@transaction.atomic(durable=True)
def do_connect_oauth(connection: Connection, *, actor: Any, grant: TokenGrant) -> Connection:
    """Store the tokens an OAuth flow granted for an existing connection ("Reconnect"): a rotation whose
    new values came from the provider, with the granted scopes and expiry recorded."""
    check(actor, Action.MANAGE_CONNECTIONS, connection)
    connection = _locked(connection)
    spec = connection.provider_spec
    if spec.oauth_for(connection.auth_method) is None:
        raise ValidationError({"auth_method": f"The {connection.auth_method} method has no OAuth flow."})
    try:
        _, clean = spec.clean(connection.auth_method, {}, grant.secrets(), partial=True)
    except ProviderValidationError as exc:
        raise _errors(exc, lambda _name: "secrets") from None
    store_secrets(connection, clean)
    connection.oauth_scopes, connection.oauth_expires_at = grant.scopes, grant.expires_at
    connection.credentials_rotated_at = timezone.now()
    connection.updated_by = _user(actor)
    connection.save()
    record_event(
        org=connection.org,
        action=AuditAction.CONNECTION_OAUTH_CONNECTED,
        actor=actor,
        target=connection,
        details={
            "secret_fields": sorted(clean),
            "fingerprints": {k: connection.secret_fingerprints[k] for k in clean},
            "oauth": grant.public(),
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
    """Revoke one environment. When it was the environment's default, another authorized connection of the
    provider (the longest-authorized) becomes the default, named in the audit event."""
    check(actor, Action.MANAGE_CONNECTIONS, connection)
    connection = _locked(connection)
    auth = ConnectionAuthorization.objects.filter(connection=connection, environment=environment).first()
    if auth is None:
        return False
    auth.delete()
    details = {}
    if auth.is_default:
        successor = _promote_default(environment, connection.provider)
        details["new_default"] = successor.connection.name if successor else None
    record_event(
        org=connection.org,
        action=AuditAction.CONNECTION_DEAUTHORIZED,
        actor=actor,
        target=connection,
        environment=environment.slug,
        details=details,
    )
    return True


@transaction.atomic(durable=True)
def do_set_default_connection(connection: Connection, environment: Environment, *, actor: Any) -> bool:
    """Make `connection` the default of its provider in `environment` (it must be authorized there).

    Returns False when it already was. The previous default stays authorized: a run or project may still
    name it. Takes effect for the next automatic selection.
    """
    check(actor, Action.MANAGE_CONNECTIONS, connection)
    connection = _locked(connection)
    if environment.org_id != connection.org_id:
        raise ValidationError({"environment": "Unknown environment."})
    rows = list(
        ConnectionAuthorization.objects.select_for_update()
        .filter(environment=environment, provider=connection.provider)
        .select_related("connection")
    )
    mine = next((row for row in rows if row.connection_id == connection.pk), None)
    if mine is None:
        message = f"'{connection.name}' is not authorized for environment '{environment.slug}'; authorize it first."
        raise ValidationError({"environment": message})
    if mine.is_default:
        return False
    previous = next((row for row in rows if row.is_default), None)
    if previous is not None:  # unset first: the partial unique index allows one default at a time
        previous.is_default = False
        previous.save(update_fields=["is_default", "updated_at"])
    mine.is_default = True
    mine.save(update_fields=["is_default", "updated_at"])
    record_event(
        org=connection.org,
        action=AuditAction.CONNECTION_DEFAULT_SET,
        actor=actor,
        target=connection,
        environment=environment.slug,
        details={"provider": connection.provider, "previous": previous.connection.name if previous else None},
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

# Each counter is a column of the page's own query: a function returning an expression correlated with the
# connection (`OuterRef("pk")`), e.g. a `core.expressions.SubqueryCount`; registered by apps above this one.
CARD_COUNTERS: list[tuple[str, str, Callable[[], Any]]] = []


def register_card_counter(singular: str, plural: str, column: Callable[[], Any]) -> None:
    CARD_COUNTERS.append((singular, plural, column))


def with_card_counts(connections: QuerySet) -> QuerySet:
    """`connections` with one count column per registered counter (evaluated for the returned rows only)."""
    return connections.annotate(
        **{f"card_count_{index}": column() for index, (_, _, column) in enumerate(CARD_COUNTERS)}
    )


def card_counts(connections: list[Connection]) -> None:
    """Attach `linked_counts` ([(label, count)]) to each connection read through `with_card_counts`."""
    for connection in connections:
        counts = [connection.__dict__[f"card_count_{index}"] for index in range(len(CARD_COUNTERS))]
        connection.linked_counts = [
            (singular if n == 1 else plural, n) for (singular, plural, _), n in zip(CARD_COUNTERS, counts, strict=True)
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


# Apps that own objects hanging off a connection register a function here (projects, roles; finops registers
# its cost records and sync jobs in finops.dependents, so this module never imports an app above it).
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


@dataclass
class RewrapResult:
    """What one batch of a key rotation did: rows re-wrapped, and the rows that could not be (with why)."""

    rewrapped: int = 0
    failed: list[tuple[Any, str]] = field(default_factory=list)


def _write_envelopes(rows: list[Connection]) -> None:
    """One UPDATE statement executed for many rows (psycopg pipelines `executemany`): Django's
    `bulk_update` builds a CASE expression per row in Python, which costs more than the crypto."""
    if not rows:
        return
    table = Connection._meta.db_table
    with transaction.get_connection().cursor() as cursor:
        quote = cursor.db.ops.quote_name
        cursor.executemany(
            f"UPDATE {quote(table)} SET {quote('secrets_envelope')} = %s, {quote('secrets_key_id')} = %s "  # noqa: S608
            f"WHERE {quote(Connection._meta.pk.column)} = %s",
            [(row.secrets_envelope, row.secrets_key_id, Connection._meta.pk.get_db_prep_value(row.pk, cursor.db))
             for row in rows],
        )


@transaction.atomic(durable=True)
def do_rewrap_connection_secrets(connection_pks: Sequence[Any], *, ring: crypto.KeyRing) -> RewrapResult:
    """Re-wrap a batch of connections' data keys to the ring's primary key (the platform acts, as "system").

    One transaction per batch: the rows are locked together (a concurrent rotation or re-wrap of one of
    them waits), re-encrypted in memory, written back in one UPDATE, and recorded as one audit event per
    organization listing the connections and the key ids. Rows deleted meanwhile, without secrets or
    already on the primary key are skipped, which keeps re-runs cheap and safe. A row that cannot be
    decrypted (its key left the ring) is reported and left as it was; the rest of the batch goes on.
    """
    result = RewrapResult()
    rows = (
        Connection.objects.select_for_update()
        .filter(pk__in=list(connection_pks))
        .exclude(secrets_envelope="")
        .only("pk", "org_id", "name", "secrets_envelope", "secrets_key_id")
        .order_by("pk")
    )
    changed: list[Connection] = []
    old_kids: dict[Any, dict[str, list[str]]] = {}
    for connection in rows:
        try:
            old_kid = crypto.envelope_kid(connection.secrets_envelope)
            if old_kid == ring.primary.kid:
                continue
            envelope = crypto.rewrap(connection.secrets_envelope, context=secret_context(connection), ring=ring)
        except crypto.CryptoError as exc:
            result.failed.append((connection.pk, str(exc)))
            continue
        connection.secrets_envelope, connection.secrets_key_id = envelope, ring.primary.kid
        changed.append(connection)
        old_kids.setdefault(connection.org_id, {}).setdefault(old_kid, []).append(str(connection.pk))
    _write_envelopes(changed)
    orgs = Organization.objects.in_bulk(list(old_kids))
    for org_id, by_kid in old_kids.items():
        record_event(
            org=orgs[org_id],
            action=AuditAction.CONNECTION_KEY_REWRAPPED,
            target_repr=f"{sum(len(ids) for ids in by_kid.values())} connection(s)",
            details={
                "new_key_id": ring.primary.kid,
                "old_key_ids": sorted(by_kid),
                "connection_ids": sorted(pk for ids in by_kid.values() for pk in ids),
            },
        )
    result.rewrapped = len(changed)
    return result


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
