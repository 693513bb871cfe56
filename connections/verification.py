"""Testing connections: one check per connection, its saved result, health alerts, and the sweep.

`run_check` is what the Celery task (and so the API's Test button and the hourly sweep) executes:
it gets the credentials through `use_credentials` (audited, masked), asks the provider module to
check them, and saves the outcome with `do_record_check_result`, which also raises an alert when a
connection turns unhealthy. Nothing here runs in the web request's own code path (pages and the API
ask for a test through `services.do_request_connection_test`, which sends the task).

`do_record_check_result` is durable (`transaction.atomic(durable=True)`): a check runs outside any
transaction, so the result and its audit event are committed before the alert is delivered.
"""

from __future__ import annotations

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
from django.http import Http404
from django.utils import timezone

from accounts.actors import SYSTEM
from accounts.audit import record_event
from accounts.choices import AuditAction
from accounts.models import Membership, Notification
from accounts.policy import Action, check
from core import masking
from core.netguard import GuardError, guarded_request
from identity.keys import sign_assertion, subject_for

from .choices import ConnectionStatusChoices, HealthStatusChoices
from .extensions import check_notes
from .models import Connection
from .networks import reachable_private_networks
from .providers.contract import CheckContext, CheckFailed, ReferencedCredentials
from .runtime import use_credentials

logger = logging.getLogger(__name__)




@dataclass(frozen=True)
class CheckOutcome:
    ok: bool
    message: str
    duration_ms: int


def _signer(org_slug: str, connection_name: str) -> Any:
    """Signs short-lived OIDC client assertions with the platform's issuer, for this connection's subject."""
    subject = subject_for(org_slug, connection_name)
    return lambda audience: sign_assertion(audience=audience, subject=subject)




def build_context(connection: Connection, ref: ReferencedCredentials | None = None) -> CheckContext:
    first_role = connection.roles.exclude(role_arn="").order_by("created_at").first()
    return CheckContext(
        org_slug=connection.org.slug,
        connection_name=connection.name,
        external_id=connection.external_id,
        role_arn=first_role.role_arn if first_role else None,
        ref=ref,
        allowed_networks=reachable_private_networks(connection),
        timeout=float(settings.CONNECTION_CHECK_TIMEOUT),
        sign_assertion=_signer(connection.org.slug, connection.name),
        extra_ca_data=_extra_ca_data(),
    )


def _extra_ca_data() -> str:
    """EXTRA_CA_DATA: PEM text, or the path of a PEM file."""
    value = str(settings.EXTRA_CA_DATA or "")
    if value and "-----BEGIN" not in value:
        return Path(value).read_text()
    return value


def run_check(connection: Connection, *, actor: Any = SYSTEM) -> CheckOutcome:
    """Check one connection against its provider and save the result. Never raises for a failed check."""
    check(actor, Action.TEST_CONNECTION, connection)
    spec = connection.provider_spec
    started = time.monotonic()
    try:
        with use_credentials(connection, actor=actor, purpose="connection-test", for_test=True) as creds:
            ref = None
            if creds.ref is not None:
                ref_conn = creds.ref.connection
                ref_role = ref_conn.roles.exclude(role_arn="").order_by("created_at").first()
                ref_config = {**creds.ref.config, **({"role_arn": ref_role.role_arn} if ref_role else {})}
                ref = ReferencedCredentials(
                    ref_conn.provider, ref_conn.auth_method, ref_config, creds.ref.secrets, ref_conn.external_id
                )
            result = spec.check(connection.auth_method, creds.config, creds.secrets, build_context(connection, ref))
        outcome = CheckOutcome(True, result.message, int((time.monotonic() - started) * 1000))
    except CheckFailed as exc:
        outcome = CheckOutcome(False, f"Authentication failed: {exc.reason}", int((time.monotonic() - started) * 1000))
    except (PermissionDenied, Http404):
        raise  # who may test is not the connection's health: nothing is recorded, nothing alerts
    except NotImplementedError:
        outcome = CheckOutcome(False, f"{spec.label} connections cannot be tested yet.", 0)
    except Exception as exc:  # any provider/SDK error is a failed check, reported without secrets
        logger.warning("Connection check for %s failed unexpectedly: %s", connection.pk, exc.__class__.__name__)
        reason = f"{exc.__class__.__name__}: {exc}"
        outcome = CheckOutcome(False, f"Authentication failed: {reason}", int((time.monotonic() - started) * 1000))
    notes = check_notes(connection)  # e.g. the VPN's tunnel status of an on-prem connection (seed 004)
    message = " ".join([outcome.message, *notes]) if notes else outcome.message
    outcome = CheckOutcome(outcome.ok, masking.mask(message)[:1000], outcome.duration_ms)
    do_record_check_result(connection, outcome, actor=actor)
    return outcome


@transaction.atomic(durable=True)
def do_record_check_result(connection: Connection, outcome: CheckOutcome, *, actor: Any) -> Connection:
    """Save a check result on the connection (status error on failure, active on success), audit it,
    and alert when the connection changes to failing."""
    check(actor, Action.TEST_CONNECTION, connection)
    connection = Connection.objects.select_for_update().select_related("org").get(pk=connection.pk)
    previous_health = connection.health_status
    was_unhealthy = previous_health == HealthStatusChoices.UNHEALTHY
    connection.health_status = HealthStatusChoices.HEALTHY if outcome.ok else HealthStatusChoices.UNHEALTHY
    connection.last_checked_at = timezone.now()
    connection.last_check_error = "" if outcome.ok else outcome.message
    connection.last_check_message = outcome.message
    connection.last_check_duration_ms = outcome.duration_ms
    if connection.status != ConnectionStatusChoices.INACTIVE:
        connection.status = ConnectionStatusChoices.ACTIVE if outcome.ok else ConnectionStatusChoices.ERROR
    connection.save(
        update_fields=[
            "health_status", "last_checked_at", "last_check_error", "last_check_message", "last_check_duration_ms",
            "status", "updated_at",
        ]
    )
    # A person's Test is always audited; the scheduled sweep only when the health changes (the use
    # of the credentials is audited either way, by use_credentials).
    if actor is not SYSTEM or previous_health != connection.health_status:
        record_event(
            org=connection.org, action=AuditAction.CONNECTION_TESTED, actor=actor, target=connection,
            details={"ok": outcome.ok, "message": outcome.message, "duration_ms": outcome.duration_ms},
        )
    if not outcome.ok and not was_unhealthy:
        _alert(connection, outcome, actor)
    elif outcome.ok and was_unhealthy:
        _resolve_alerts(connection, outcome, actor)
    return connection


def _resolve_alerts(connection: Connection, outcome: CheckOutcome, actor: Any) -> None:
    """A connection that passes again clears its open health alerts, so the banner shows only what
    still needs someone; the audit trail keeps both the alert and its resolution."""
    # Other alerts about this connection (a rotation reminder, a role's alert) are not the health
    # check's to resolve: they name their notification on the connection or the role.
    others = [connection.rotation_reminder_notification_id, *connection.roles.exclude(
        alert_notification=None).values_list("alert_notification_id", flat=True)]
    resolved = (
        Notification.objects.filter(
            org=connection.org, target_type="connections.connection", target_id=str(connection.pk),
            level=Notification.Level.ERROR, dismissed_at__isnull=True,
        )
        .exclude(pk__in=[pk for pk in others if pk is not None])
        .update(dismissed_at=timezone.now())
    )
    if resolved:
        record_event(
            org=connection.org, action=AuditAction.CONNECTION_ALERT_RESOLVED, actor=actor, target=connection,
            details={"resolved": resolved, "message": outcome.message},
        )


def _alert(connection: Connection, outcome: CheckOutcome, actor: Any) -> None:
    title = f"Connection '{connection.name}' is failing its check"
    note = Notification.objects.create(
        org=connection.org, level=Notification.Level.ERROR, title=title, message=outcome.message,
        url=f"/o/{connection.org.slug}/connections/{connection.name}/", target_type="connections.connection",
        target_id=str(connection.pk),
    )
    record_event(
        org=connection.org, action=AuditAction.CONNECTION_ALERT, actor=actor, target=connection,
        details={"notification_id": note.pk, "message": outcome.message},
    )
    transaction.on_commit(lambda: deliver_alert(note.pk))


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
