"""Testing connections: checks, their saved results, health alerts, and the sweep's chunks.

`check_connections` is what the Celery tasks (and so the API's Test button, as a chunk of one, and the
hourly sweep, a chunk at a time) execute: it records the use of every connection's credentials in one
transaction (`runtime.use_credentials_for_tests`: audited, masked, released only after that commit),
asks each provider module to check them, and saves all the outcomes with `do_record_check_results`,
which also raises an alert when a connection turns unhealthy. Two rounds of writes per chunk, a constant
number of queries at any chunk size. Nothing here runs in the web request's own code path (pages and
the API ask for a test through `services.do_request_connection_test`, which sends the task).

`do_record_check_results` is durable (`transaction.atomic(durable=True)`): a check runs outside any
transaction, so the results and their audit events are committed before an alert is delivered.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.utils import timezone

from accounts.actors import SYSTEM
from accounts.audit import PendingEvent, record_events
from accounts.choices import AuditAction
from accounts.models import Membership, Notification
from accounts.policy import Action, check
from core import masking
from core.netguard import GuardError, guarded_request
from identity.keys import sign_assertion, subject_for

from .choices import ConnectionStatusChoices, HealthStatusChoices
from .extensions import check_notes
from .models import Connection, ConnectionRole
from .networks import reachable_private_networks
from .providers.contract import CheckContext, CheckFailed, ReferencedCredentials
from .runtime import Credentials, record_use_failures, use_credentials_for_tests

logger = logging.getLogger(__name__)


class _Unset:
    """`build_context(role_arn=...)` not given: look it up (None is a valid answer: no role)."""


UNSET = _Unset()


@dataclass(frozen=True)
class CheckOutcome:
    ok: bool
    message: str
    duration_ms: int


def _signer(org_slug: str, connection_name: str) -> Any:
    """Signs short-lived OIDC client assertions with the platform's issuer, for this connection's subject."""
    subject = subject_for(org_slug, connection_name)
    return lambda audience: sign_assertion(audience=audience, subject=subject)




def _first_role_arns(connection_ids: list[Any]) -> dict[Any, str]:
    """Each connection's first role ARN (what an assume-role check uses), for many connections in one query."""
    first: dict[Any, str] = {}
    for connection_id, role_arn in (
        ConnectionRole.objects.filter(connection_id__in=connection_ids).exclude(role_arn="")
        .order_by("connection_id", "created_at", "pk").values_list("connection_id", "role_arn")
    ):
        first.setdefault(connection_id, role_arn)
    return first


def build_context(
    connection: Connection,
    ref: ReferencedCredentials | None = None,
    *,
    role_arn: str | _Unset | None = UNSET,
    extra_ca_data: str | None = None,
) -> CheckContext:
    """The provider's view of the connection for a check. `role_arn`/`extra_ca_data` may be passed in
    when a chunk looked them up once for all its connections."""
    if isinstance(role_arn, _Unset):
        role_arn = _first_role_arns([connection.pk]).get(connection.pk)
    return CheckContext(
        org_slug=connection.org.slug,
        connection_name=connection.name,
        external_id=connection.external_id,
        role_arn=role_arn,
        ref=ref,
        allowed_networks=reachable_private_networks(connection),
        timeout=float(settings.CONNECTION_CHECK_TIMEOUT),
        sign_assertion=_signer(connection.org.slug, connection.name),
        extra_ca_data=_extra_ca_data() if extra_ca_data is None else extra_ca_data,
    )


def _extra_ca_data() -> str:
    """EXTRA_CA_DATA: PEM text, or the path of a PEM file."""
    value = str(settings.EXTRA_CA_DATA or "")
    if value and "-----BEGIN" not in value:
        return Path(value).read_text()
    return value


def run_check(connection: Connection, *, actor: Any = SYSTEM) -> CheckOutcome:
    """Check one connection against its provider and save the result (the Test button, the API).
    Never raises for a failed check; raises PermissionDenied/Http404 when `actor` may not test it."""
    return check_connections([connection], actor=actor)[0]


def check_connections(connections: list[Connection], *, actor: Any = SYSTEM) -> list[CheckOutcome]:
    """Check connections one after the other and save their results, with one round of writes before the
    checks (their credentials' use, `use_credentials_for_tests`) and one after (`do_record_check_results`).

    The same rows as checking each alone: a usage row and a `credentials_used` event per use, the saved
    result, a `connection.tested` event (for a person always, for the sweep when the health changed),
    one alert when a connection turns unhealthy and its resolution when it recovers. A re-run (a retried
    task) records a fresher result and never alerts twice: the alert decision reads the saved health
    under the row lock. Deleted connections are skipped; everyone else gets an outcome, in order.
    """
    for connection in connections:
        check(actor, Action.TEST_CONNECTION, connection)  # who may test is not the connection's health
    if not connections:
        return []
    uses = use_credentials_for_tests(connections, actor=actor)
    role_arns = _first_role_arns([c.pk for c in connections] + [
        u.ref.connection.pk for u in uses if isinstance(u, Credentials) and u.ref is not None
    ])
    extra_ca = _extra_ca_data()
    outcomes: list[CheckOutcome] = []
    failures: dict[int, str] = {}
    for connection, use in zip(connections, uses, strict=True):
        outcome = _check_one(connection, use, role_arns, extra_ca, failures)
        notes = check_notes(connection)  # e.g. the VPN's tunnel status of an on-prem connection (seed 004)
        message = " ".join([outcome.message, *notes]) if notes else outcome.message
        outcomes.append(CheckOutcome(outcome.ok, masking.mask(message)[:1000], outcome.duration_ms))
    do_record_check_results(list(zip(connections, outcomes, strict=True)), actor=actor, usage_failures=failures)
    return outcomes


def _check_one(
    connection: Connection,
    use: Credentials | Exception,
    role_arns: dict[Any, str],
    extra_ca: str,
    failures: dict[int, str],
) -> CheckOutcome:
    """One provider check. A failure inside the check marks its usage rows failed (as `use_credentials` does)."""
    spec = connection.provider_spec
    started = time.monotonic()
    try:
        if isinstance(use, Exception):
            raise use  # what `use_credentials` would have raised: a failed check, as before
        with masking.registered(use.sensitive_values()):
            try:
                ref = None
                if use.ref is not None:
                    ref_conn = use.ref.connection
                    ref_role = role_arns.get(ref_conn.pk)
                    ref_config = {**use.ref.config, **({"role_arn": ref_role} if ref_role else {})}
                    ref = ReferencedCredentials(
                        ref_conn.provider, ref_conn.auth_method, ref_config, use.ref.secrets, ref_conn.external_id
                    )
                ctx = build_context(connection, ref, role_arn=role_arns.get(connection.pk), extra_ca_data=extra_ca)
                result = spec.check(connection.auth_method, use.config, use.secrets, ctx)
            except Exception as exc:
                message = masking.mask(str(exc))[:1000]
                failures.update(dict.fromkeys(use.usage_ids, message))
                raise
        return CheckOutcome(True, result.message, int((time.monotonic() - started) * 1000))
    except CheckFailed as exc:
        return CheckOutcome(False, f"Authentication failed: {exc.reason}", int((time.monotonic() - started) * 1000))
    except (PermissionDenied, Http404):
        raise  # who may test is not the connection's health: nothing is recorded, nothing alerts
    except NotImplementedError:
        return CheckOutcome(False, f"{spec.label} connections cannot be tested yet.", 0)
    except Exception as exc:  # any provider/SDK error is a failed check, reported without secrets
        logger.warning("Connection check for %s failed unexpectedly: %s", connection.pk, exc.__class__.__name__)
        reason = f"{exc.__class__.__name__}: {exc}"
        return CheckOutcome(False, f"Authentication failed: {reason}", int((time.monotonic() - started) * 1000))


_PER_ROW_FIELDS = ("health_status", "status", "last_check_error", "last_check_message", "last_check_duration_ms")


def _save_results(connections: list[Connection], now: Any) -> None:
    """One UPDATE for every row: each per-row field is a `CASE id WHEN ... THEN ... END`.

    Django's `bulk_update` writes the same statement but builds and resolves a `When(pk=...)` filter
    per row and field (about 40% of a chunk's CPU, profiled); the values here are prepared once.
    """
    if not connections:
        return
    db = transaction.get_connection()
    pk_field = Connection._meta.pk
    pk_column = db.ops.quote_name(pk_field.column)
    pks = [pk_field.get_db_prep_value(c.pk, db) for c in connections]
    values: dict[str, Any] = {"last_checked_at": now, "updated_at": now}
    for name in _PER_ROW_FIELDS:
        field = Connection._meta.get_field(name)
        sql = f"CASE {pk_column} {' '.join(['WHEN %s THEN %s'] * len(connections))} END"
        params: list[Any] = []
        for pk, connection in zip(pks, connections, strict=True):
            params += [pk, field.get_db_prep_value(getattr(connection, name), db)]
        values[name] = RawSQL(sql, params, output_field=field)  # noqa: S611 (constant SQL, values are parameters)
    Connection.objects.filter(pk__in=[c.pk for c in connections]).update(**values)


@transaction.atomic(durable=True)
def do_record_check_results(
    results: list[tuple[Connection, CheckOutcome]], *, actor: Any, usage_failures: dict[int, str] | None = None
) -> list[Connection]:
    """Save check results on their connections (status error on failure, active on success), audit
    them, and alert when a connection changes to failing (resolve its alerts when it passes again).

    One transaction and a constant number of queries for any number of results: the rows are locked
    in one statement (pk order, so two chunks never deadlock), saved in one, and the audit events,
    notifications and usage failures written in bulk. Durable: the results and their audit events are
    committed before any alert is delivered. Connections deleted meanwhile are skipped.
    """
    outcomes = {c.pk: outcome for c, outcome in results}
    for connection, _ in results:
        check(actor, Action.TEST_CONNECTION, connection)
    locked = list(
        Connection.objects.select_for_update(of=("self",)).select_related("org")
        .filter(pk__in=list(outcomes)).order_by("pk")
    )
    now = timezone.now()
    changed: list[tuple[Connection, CheckOutcome, bool]] = []  # (connection, outcome, health changed)
    for connection in locked:
        outcome = outcomes[connection.pk]
        previous_health = connection.health_status
        connection.health_status = HealthStatusChoices.HEALTHY if outcome.ok else HealthStatusChoices.UNHEALTHY
        connection.last_checked_at = now
        connection.last_check_error = "" if outcome.ok else outcome.message
        connection.last_check_message = outcome.message
        connection.last_check_duration_ms = outcome.duration_ms
        connection.updated_at = now
        if connection.status != ConnectionStatusChoices.INACTIVE:
            connection.status = ConnectionStatusChoices.ACTIVE if outcome.ok else ConnectionStatusChoices.ERROR
        changed.append((connection, outcome, previous_health))
    _save_results(locked, now)
    record_use_failures(usage_failures or {})
    failing = [c for c, o, before in changed if not o.ok and before != HealthStatusChoices.UNHEALTHY]
    recovered = [c for c, o, before in changed if o.ok and before == HealthStatusChoices.UNHEALTHY]
    alerts = _create_alerts(failing, outcomes)
    resolved = _resolve_alerts(recovered, now)
    events: list[PendingEvent] = []
    for connection, outcome, previous_health in changed:
        # A person's Test is always audited; the scheduled sweep only when the health changes (the use
        # of the credentials is audited either way, by use_credentials).
        if actor is not SYSTEM or previous_health != connection.health_status:
            events.append(PendingEvent(
                org=connection.org, action=AuditAction.CONNECTION_TESTED, actor=actor, target=connection,
                details={"ok": outcome.ok, "message": outcome.message, "duration_ms": outcome.duration_ms},
            ))
        if (note := alerts.get(connection.pk)) is not None:
            events.append(PendingEvent(
                org=connection.org, action=AuditAction.CONNECTION_ALERT, actor=actor, target=connection,
                details={"notification_id": note.pk, "message": outcome.message},
            ))
        if resolved.get(connection.pk):
            events.append(PendingEvent(
                org=connection.org, action=AuditAction.CONNECTION_ALERT_RESOLVED, actor=actor, target=connection,
                details={"resolved": resolved[connection.pk], "message": outcome.message},
            ))
    record_events(events)
    for note in alerts.values():
        transaction.on_commit(functools.partial(deliver_alert, note.pk))
    return locked


def _create_alerts(failing: list[Connection], outcomes: dict[Any, CheckOutcome]) -> dict[Any, Notification]:
    """One open alert per connection that turned unhealthy, in one insert."""
    notes = {
        c.pk: Notification(
            org=c.org, level=Notification.Level.ERROR, title=f"Connection '{c.name}' is failing its check",
            message=outcomes[c.pk].message, url=f"/o/{c.org.slug}/connections/{c.name}/",
            target_type="connections.connection", target_id=str(c.pk),
        )
        for c in failing
    }
    if notes:
        Notification.objects.bulk_create(list(notes.values()))
    return notes


def _resolve_alerts(recovered: list[Connection], now: Any) -> dict[Any, int]:
    """A connection that passes again clears its open health alerts, so the banner shows only what
    still needs someone; the audit trail keeps both the alert and its resolution. Returns how many
    alerts each connection had resolved (three queries for any number of connections)."""
    if not recovered:
        return {}
    by_target = {str(c.pk): c for c in recovered}
    # Other alerts about this connection (a rotation reminder, a role's alert) are not the health
    # check's to resolve: they name their notification on the connection or the role.
    others: set[Any] = {c.rotation_reminder_notification_id for c in recovered} - {None}
    others.update(
        ConnectionRole.objects.filter(connection__in=recovered).exclude(alert_notification=None)
        .values_list("alert_notification_id", flat=True)
    )
    open_alerts = [
        (pk, target_id)
        for pk, target_id in Notification.objects.filter(
            org_id__in={c.org_id for c in recovered}, target_type="connections.connection",
            target_id__in=list(by_target), level=Notification.Level.ERROR, dismissed_at__isnull=True,
        ).values_list("pk", "target_id")
        if pk not in others
    ]
    if not open_alerts:
        return {}
    Notification.objects.filter(pk__in=[pk for pk, _ in open_alerts]).update(dismissed_at=now)
    counts: dict[Any, int] = {}
    for _, target_id in open_alerts:
        pk = by_target[target_id].pk
        counts[pk] = counts.get(pk, 0) + 1
    return counts


def deliver_alert(notification_id: int) -> None:
    """Email the organization's admins and post to the webhook, when configured. Best effort: a
    delivery problem is logged, never raised into the check that found the failure."""
    note = Notification.objects.select_related("org").filter(pk=notification_id).first()
    if note is None:
        return
    if settings.ALERT_EMAILS_ENABLED:
        admins = list(
            Membership.objects.filter(org=note.org, role="admin", user__is_active=True).values_list(
                "user__email", flat=True
            )
        )
        if admins:
            try:
                send_mail(f"[{note.org.slug}] {note.title}", note.message, None, admins)
            except Exception as exc:  # SMTP errors vary by backend
                logger.warning("Alert e-mail for notification %s failed: %s", note.pk, exc.__class__.__name__)
    webhook = settings.ALERT_WEBHOOK_URL
    if webhook:
        body = json.dumps(
            {"org": note.org.slug, "title": note.title, "message": note.message, "url": note.url,
             "created_at": note.created_at.isoformat()}
        ).encode()
        try:
            guarded_request(
                "POST", webhook, headers={"Content-Type": "application/json"}, body=body, timeout=5.0,
                allowed_networks=tuple(settings.ALERT_WEBHOOK_ALLOWED_NETWORKS),
            )
        except (GuardError, Exception) as exc:  # the guard's refusal or a network error
            logger.warning("Alert webhook for notification %s failed: %s", note.pk, exc.__class__.__name__)
