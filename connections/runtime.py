"""Automatic selection of a connection, and `use_credentials`: the only way code gets a secret.

Several connections of a provider may be authorized for an environment; automatic selection picks the
environment's default for the provider (exactly one, a database constraint), and a caller may name any
other authorized one. Using credentials checks the policy, decrypts, records the use
(audit event + ConnectionUsage + last_used_at) in one transaction, and only after that transaction
commits hands the values out, registered with the log masker for as long as they are in use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.actors import SYSTEM, actor_label, split_actor
from accounts.audit import PendingEvent, record_event, record_events
from accounts.choices import AuditAction
from accounts.models import Environment, Organization
from accounts.policy import Action, check
from core import context, masking

from .choices import ConnectionStatusChoices, UsageOutcomeChoices
from .models import Connection, ConnectionAuthorization, ConnectionUsage
from .oauth_tokens import do_refresh_oauth_token
from .providers import Materialized, UnknownProvider, get_provider
from .secrets import check_destination, load_secrets


class SelectionError(Exception):
    """No usable connection; `str()` is one of the user-facing messages of DESIGN.md, word for word."""

    code = "no_connection"


class NoConnectionAvailable(SelectionError):
    code = "no_connection_available"


class ConnectionNotAuthorized(SelectionError):
    code = "connection_not_authorized"


class AuthenticationFailed(Exception):
    """The provider rejected the credentials: `Authentication failed: <provider's reason>`."""

    code = "authentication_failed"

    def __init__(self, reason: str) -> None:
        super().__init__(f"Authentication failed: {masking.mask(reason)}")


def no_connection_message(provider: str, environment: str) -> str:
    return f"No connection available for provider '{provider}' in environment '{environment}'"


def not_authorized_message(name: str, environment: str) -> str:
    return f"Connection '{name}' is not authorized for environment '{environment}'"


@dataclass
class Selection:
    connection: Connection
    environment: Environment
    provider: str
    reason: str
    role: Any = None


def _environment(org: Organization, environment: Environment | str) -> Environment:
    if isinstance(environment, Environment):
        return environment
    env = Environment.objects.filter(org=org, slug=environment).first()
    if env is None:
        raise NoConnectionAvailable(f"Environment '{environment}' does not exist in '{org.slug}'")
    return env


def select_connection(
    org: Organization, environment: Environment | str, provider: str, *, connection: str | None = None
) -> Selection:
    """The connection to use for `provider` in `environment` (or check a named one), with the reason.

    Without a name: the environment's default connection of the provider. With a name: that connection,
    if it is authorized for the environment (default or not). Deactivated connections are never
    selected. Never touches secrets.
    """
    try:
        get_provider(provider)
    except UnknownProvider as exc:
        raise NoConnectionAvailable(exc.message) from None
    env = _environment(org, environment)
    if connection is not None:
        named = Connection.objects.filter(org=org, name=connection, provider=provider).first()
        if named is None or named.status == ConnectionStatusChoices.INACTIVE:
            raise NoConnectionAvailable(no_connection_message(provider, env.slug))
        if not ConnectionAuthorization.objects.filter(connection=named, environment=env).exists():
            raise ConnectionNotAuthorized(not_authorized_message(named.name, env.slug))
        return Selection(named, env, provider, f"'{named.name}' was requested and is authorized for '{env.slug}'.")
    # One default per (environment, provider) (a partial unique index), so no ordering is needed.
    auth = next(
        iter(
            ConnectionAuthorization.objects.filter(environment=env, provider=provider, is_default=True)
            .exclude(connection__status=ConnectionStatusChoices.INACTIVE)
            .select_related("connection", "connection__org")
            .order_by()[:1]
        ),
        None,
    )
    if auth is not None:
        reason = f"'{auth.connection.name}' is the {provider} connection authorized for environment '{env.slug}'."
        others = ConnectionAuthorization.objects.filter(environment=env, provider=provider, is_default=False).count()
        if others:
            reason = (
                f"'{auth.connection.name}' is the default {provider} connection of environment '{env.slug}' "
                f"({others} other{'s' if others > 1 else ''} authorized there must be named)."
            )
        return Selection(auth.connection, env, provider, reason)
    candidates = list(
        Connection.objects.filter(org=org, provider=provider)
        .exclude(status=ConnectionStatusChoices.INACTIVE)
        .values_list("pk", "name")[:2]
    )
    # "Not authorized" only when it is true: a lone connection authorized there (but not the default,
    # which is deactivated) gets no such message.
    if len(candidates) == 1 and not ConnectionAuthorization.objects.filter(
        connection_id=candidates[0][0], environment=env
    ).exists():
        raise ConnectionNotAuthorized(not_authorized_message(candidates[0][1], env.slug))
    raise NoConnectionAvailable(no_connection_message(provider, env.slug))


class Credentials:
    """Decrypted credentials handed to a run. `repr()` never shows a value. `usage_ids`: the usage rows
    this use recorded (its own and its referenced connection's), for `record_use_failures`."""

    def __init__(
        self,
        connection: Connection,
        secrets: dict[str, Any],
        environment: str,
        ref: Credentials | None,
        usage_ids: tuple[int, ...] = (),
    ):
        self.connection = connection
        self.config = dict(connection.config)
        self._secrets = secrets
        self.environment = environment
        self.ref = ref
        self.usage_ids = usage_ids

    def __repr__(self) -> str:
        return f"<Credentials {self.connection.name} fields={sorted(self._secrets)}>"

    @property
    def secrets(self) -> dict[str, Any]:
        return dict(self._secrets)

    def materialize(self) -> Materialized:
        """Environment variables and files for a child process (the provider module decides which).

        Write it with `Materialized.write(private_tmpdir)`: files 0600, placeholders resolved."""
        spec = self.connection.provider_spec
        ref_materialized = self.ref.materialize() if self.ref is not None else None
        ref_config = self.ref.config if self.ref is not None else None
        return spec.materialize(
            self.connection.auth_method, self.config, self._secrets, ref=ref_materialized, ref_config=ref_config
        )

    def sensitive_values(self) -> list[str]:
        """Every secret plus values derived from them (e.g. Docker's base64 auth) for the masker."""
        values = masking.secret_values(self._secrets)
        if self.ref is not None:
            values.extend(self.ref.sensitive_values())
        values.extend(self.materialize().sensitive)
        return values


@dataclass
class _Use:
    connection: Connection
    usage: ConnectionUsage
    secrets: dict[str, Any] = field(default_factory=dict)


def _record_use(
    connection: Connection, *, actor: Any, environment: str, purpose: str, resource: str, via: str = ""
) -> _Use:
    now = timezone.now()
    usage = _usage_row(connection, actor=actor, environment=environment, purpose=purpose, resource=resource, now=now)
    usage.save()
    record_event(**_used_event(connection, usage, actor=actor, purpose=purpose, resource=resource, via=via))
    Connection.objects.filter(pk=connection.pk).update(last_used_at=now)
    return _Use(connection, usage, load_secrets(connection))


def _usage_row(
    connection: Connection, *, actor: Any, environment: str, purpose: str, resource: str, now: Any
) -> ConnectionUsage:
    """The (unsaved) usage row of one use: who, where, for what; successful until the use's block fails."""
    user, _ = split_actor(actor)
    _, label = actor_label(actor)
    return ConnectionUsage(
        connection=connection,
        org=connection.org,
        environment=environment,
        actor_label=label,
        actor_user=user,
        purpose=purpose[:200],
        resource=resource[:255],
        outcome=UsageOutcomeChoices.SUCCESS,
        request_id=context.current().request_id,
        created_at=now,
    )


def _used_event(
    connection: Connection, usage: ConnectionUsage, *, actor: Any, purpose: str, resource: str, via: str = ""
) -> dict[str, Any]:
    """The `credentials_used` audit event of a saved usage row (keyword arguments of `record_event`)."""
    details = {"purpose": purpose, "resource": resource, "usage_id": usage.pk}
    return {
        "org": connection.org,
        "action": AuditAction.CONNECTION_CREDENTIALS_USED,
        "actor": actor,
        "target": connection,
        "environment": usage.environment,
        "details": {**details, **({"via": via} if via else {})},
    }


def _ready_for_use(connection: Connection, *, env_slug: str = "") -> Connection:
    """The rules every permitted use passes before a secret is read (raises otherwise): an active connection,
    the secret's destination unchanged; an OAuth token close to expiry is refreshed first."""
    if connection.status == ConnectionStatusChoices.INACTIVE:
        raise NoConnectionAvailable(no_connection_message(connection.provider, env_slug or "-"))
    check_destination(connection)  # a secret is never sent somewhere it was not entered for
    return _fresh_oauth_token(connection)


def _fresh_oauth_token(connection: Connection) -> Connection:
    """An OAuth token about to expire is refreshed before it is handed out, so a use between two runs of
    the beat task (or without beat at all) still gets a working token. A refusal is recorded on the
    connection by the refresh; the use then goes on with the stored token and fails with the provider's words."""
    margin = int(settings.OAUTH_REFRESH_MARGIN_SECONDS)
    expires = connection.oauth_expires_at
    if expires is None or expires > timezone.now() + timedelta(seconds=margin):
        return connection
    if do_refresh_oauth_token(connection, actor=SYSTEM, margin_seconds=margin):
        return Connection.objects.select_related("org", "cloud_connection").get(pk=connection.pk)
    return connection


@contextmanager
def use_credentials(
    connection: Connection,
    *,
    actor: Any,
    environment: Environment | str | None = None,
    purpose: str = "",
    resource: str = "",
    for_test: bool = False,
) -> Iterator[Credentials]:
    """Yield decrypted credentials for one use. No audit row, no secret: the use is recorded and
    committed before the values leave this function. Errors raised by the caller's block are recorded
    on the usage row (masked) and re-raised.

    `for_test`: the use is the platform's own connection test, which the test_connection permission
    covers (a grant to test one connection must not need use_connection, or the test would fail and
    make a healthy connection look broken)."""
    # Re-read: a deactivation or revoked authorization takes effect for the very next use.
    connection = Connection.objects.select_related("org", "cloud_connection").get(pk=connection.pk)
    check(actor, Action.TEST_CONNECTION if for_test else Action.USE_CONNECTION, connection)
    env_slug = ""
    if environment is not None:
        env = _environment(connection.org, environment)
        env_slug = env.slug
        if not ConnectionAuthorization.objects.filter(connection=connection, environment=env).exists():
            raise ConnectionNotAuthorized(not_authorized_message(connection.name, env_slug))
    connection = _ready_for_use(connection, env_slug=env_slug)
    with transaction.atomic():
        use = _record_use(connection, actor=actor, environment=env_slug, purpose=purpose, resource=resource)
        ref_use = None
        if connection.cloud_connection_id is not None:
            ref_use = _record_use(
                connection.cloud_connection,
                actor=actor,
                environment=env_slug,
                purpose=purpose,
                resource=resource,
                via=connection.name,
            )
    ref = Credentials(ref_use.connection, ref_use.secrets, env_slug, None) if ref_use else None
    credentials = Credentials(connection, use.secrets, env_slug, ref)
    with masking.registered(credentials.sensitive_values()):
        try:
            yield credentials
        except Exception as exc:
            message = masking.mask(str(exc))[:1000]
            ConnectionUsage.objects.filter(pk__in=[u.usage.pk for u in (use, ref_use) if u]).update(
                outcome=UsageOutcomeChoices.FAILURE, error=message, updated_at=timezone.now()
            )
            raise


def use_credentials_for_tests(connections: list[Connection], *, actor: Any) -> list[Credentials | Exception]:
    """`use_credentials(..., for_test=True)` for many connections at once (the health sweep's chunk):
    the same checks, the same usage rows and `credentials_used` audit events, but written in one
    transaction with a constant number of queries, however many connections there are.

    Returns, in the order given, each connection's Credentials (released only after the commit that
    recorded their use) or the exception that kept them back, which `use_credentials` would have
    raised (deactivated, destination changed, undecryptable). Permission is the caller's to check
    first: a refusal must record nothing. The caller runs each check inside
    `masking.registered(credentials.sensitive_values())` and reports failures with `record_use_failures`.
    """
    fresh = Connection.objects.select_related("org", "cloud_connection", "cloud_connection__org").in_bulk(
        [c.pk for c in connections]
    )
    results: list[Credentials | Exception | None] = []
    ready: list[tuple[int, Connection, dict[str, Any], dict[str, Any] | None]] = []
    for index, given in enumerate(connections):
        # Re-read: a deactivation or revoked authorization takes effect for the very next use.
        connection = fresh.get(given.pk)
        try:
            if connection is None:
                raise Connection.DoesNotExist(f"Connection {given.pk} no longer exists.")
            check(actor, Action.TEST_CONNECTION, connection)
            connection = _ready_for_use(connection)
            secrets = load_secrets(connection)  # held here; released below only after the use is committed
            ref_secrets = load_secrets(connection.cloud_connection) if connection.cloud_connection_id else None
        except Exception as exc:  # the caller records it as the connection's failed check
            results.append(exc)
            continue
        results.append(None)  # its Credentials, once the use is committed
        ready.append((index, connection, secrets, ref_secrets))
    if not ready:
        return results  # type: ignore[return-value]  (no None left: every entry is an exception)
    now = timezone.now()
    purpose = "connection-test"

    def usage(conn: Connection) -> ConnectionUsage:
        return _usage_row(conn, actor=actor, environment="", purpose=purpose, resource="", now=now)

    with transaction.atomic():
        rows: list[tuple[Connection, ConnectionUsage, str]] = []
        for _, connection, _, ref_secrets in ready:
            rows.append((connection, usage(connection), ""))
            if ref_secrets is not None:
                rows.append((connection.cloud_connection, usage(connection.cloud_connection), connection.name))
        ConnectionUsage.objects.bulk_create([u for _, u, _ in rows])
        # The connections first, then (in record_events) their organizations: the order every writer locks in.
        Connection.objects.filter(pk__in={c.pk for c, _, _ in rows}).update(last_used_at=now)
        record_events([
            PendingEvent(**_used_event(conn, u, actor=actor, purpose=purpose, resource="", via=via))
            for conn, u, via in rows
        ])
    by_connection = iter(rows)
    for index, connection, secrets, ref_secrets in ready:
        _, own, _ = next(by_connection)
        ref = None
        usage_ids = [own.pk]
        if ref_secrets is not None:
            ref_conn, ref_usage, _ = next(by_connection)
            ref = Credentials(ref_conn, ref_secrets, "", None)
            usage_ids.append(ref_usage.pk)
        results[index] = Credentials(connection, secrets, "", ref, usage_ids=tuple(usage_ids))
    return results  # type: ignore[return-value]  (every None was replaced)


def record_use_failures(failures: dict[int, str]) -> None:
    """Mark usage rows (pk -> masked message) as failed, in one statement: what `use_credentials` does
    when its block raises, for the uses of `use_credentials_for_tests`."""
    if not failures:
        return
    now = timezone.now()
    rows = [ConnectionUsage(pk=pk, outcome=UsageOutcomeChoices.FAILURE, error=msg[:1000], updated_at=now)
            for pk, msg in failures.items()]
    ConnectionUsage.objects.bulk_update(rows, ["outcome", "error", "updated_at"])
