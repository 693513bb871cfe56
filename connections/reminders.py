"""Rotation reminders that reach someone: stored credentials older than ROTATION_REMINDER_DAYS raise
one "due" alert, and ROTATION_OVERDUE_GRACE_DAYS later one "overdue" alert (seed 000, issue 12).

Once means once per credentials: the connection remembers which reminder it sent
(`rotation_reminder_stage`) for which credentials (`rotation_reminder_basis`, the
`credentials_rotated_at` they were entered at). Entering new credentials moves
`credentials_rotated_at`, so the remembered stage no longer applies and the next due date starts
over; nothing else has to reset it. A connection first seen past the overdue date gets the overdue
reminder only (one alert, not two at once).

The open reminder is kept (`rotation_reminder_notification`): the overdue reminder supersedes the due
one (which leaves the banner), and once new credentials are entered the next sweep resolves the open
reminder (`do_resolve_rotation_reminder`, audited), so a banner never asks for a rotation already done.

Only connections with stored secrets are reminded (federated methods have nothing to rotate), and
not inactive ones. `rotation_reminder_sweep` (Celery beat, hourly) selects in the database only the
connections that owe a reminder, so re-running it sends nothing new: it is idempotent by the state it
writes under a row lock, not by timing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.actors import SYSTEM
from accounts.audit import record_event
from accounts.choices import AuditAction
from accounts.models import Notification
from accounts.policy import Action, check

from .alerts import connection_page, raise_alert, resolve_alert
from .choices import ConnectionStatusChoices
from .models import Connection

__all__ = [
    "DUE",
    "OVERDUE",
    "do_resolve_rotation_reminder",
    "do_send_rotation_reminder",
    "owed_reminders",
    "rotated_since_reminder",
    "rotation_reminder_sweep",
    "rotation_stage",
]

logger = logging.getLogger(__name__)

DUE = "due"
OVERDUE = "overdue"
_RANK = {"": 0, DUE: 1, OVERDUE: 2}
_REMINDER_FIELDS = ["rotation_reminder_stage", "rotation_reminder_basis", "rotation_reminder_notification"]


def rotation_stage(connection: Connection, now: datetime | None = None) -> str:
    """Which reminder the connection's credentials call for at `now`: "", "due" or "overdue"."""
    now = now or timezone.now()
    if not connection.secret_fingerprints:
        return ""
    if now >= connection.rotation_overdue_at:
        return OVERDUE
    return DUE if now >= connection.rotation_due_at else ""


def sent_stage(connection: Connection) -> str:
    """The reminder already sent for the current credentials ("" when none, or only for older ones)."""
    if connection.rotation_reminder_basis != connection.credentials_rotated_at:
        return ""
    return connection.rotation_reminder_stage


def owed_reminders(now: datetime | None = None) -> QuerySet[Connection]:
    """Connections that owe a reminder at `now`: past due without one for these credentials, or past
    overdue without the overdue one."""
    now = now or timezone.now()
    due_before = now - timedelta(days=settings.ROTATION_REMINDER_DAYS)
    overdue_before = due_before - timedelta(days=settings.ROTATION_OVERDUE_GRACE_DAYS)
    current = Q(rotation_reminder_basis=F("credentials_rotated_at"))
    return (
        Connection.objects.exclude(status=ConnectionStatusChoices.INACTIVE)
        .exclude(secret_fingerprints={})
        .filter(
            Q(credentials_rotated_at__lte=due_before) & ~(current & Q(rotation_reminder_stage__in=[DUE, OVERDUE]))
            | Q(credentials_rotated_at__lte=overdue_before) & ~(current & Q(rotation_reminder_stage=OVERDUE))
        )
    )


def rotated_since_reminder() -> QuerySet[Connection]:
    """Connections whose remembered reminder is about credentials replaced since (or gone)."""
    return Connection.objects.exclude(rotation_reminder_stage="").exclude(
        rotation_reminder_basis=F("credentials_rotated_at")
    )


@transaction.atomic(durable=True)
def do_send_rotation_reminder(
    connection: Connection, *, actor: Any = SYSTEM, now: datetime | None = None
) -> Notification | None:
    """Send the reminder the connection owes now, if any, and remember it; None when nothing is owed
    (already sent, rotated meanwhile, no stored secrets). Safe to call any number of times."""
    check(actor, Action.TEST_CONNECTION, connection)
    connection = Connection.objects.select_for_update().select_related("org").get(pk=connection.pk)
    stage, sent = rotation_stage(connection, now), sent_stage(connection)
    if _RANK[stage] <= _RANK[sent] or connection.status == ConnectionStatusChoices.INACTIVE:
        return None
    rotated = connection.credentials_rotated_at
    if stage == OVERDUE:
        level, title = Notification.Level.ERROR, f"Credentials of '{connection.name}' are overdue for rotation"
        when = f"were due on {connection.rotation_due_at:%Y-%m-%d}"
    else:
        level, title = Notification.Level.WARNING, f"Credentials of '{connection.name}' are due for rotation"
        when = f"are due now (after {settings.ROTATION_REMINDER_DAYS} days)"
    message = (
        f"The stored credentials were last entered on {rotated:%Y-%m-%d} and {when}. Create new credentials "
        "at the provider, enter them under Rotate credentials, then revoke the old ones."
    )
    note = raise_alert(
        connection, level=level, title=title, message=message, url=connection_page(connection, "connection_rotate"),
        action=AuditAction.CONNECTION_ROTATION_REMINDED, actor=actor, target=connection,
        details={"stage": stage, "credentials_rotated_at": rotated.isoformat(),
                 "due_at": connection.rotation_due_at.isoformat()},
    )
    resolve_alert(connection.rotation_reminder_notification_id)  # superseded (due -> overdue) or stale
    connection.rotation_reminder_stage, connection.rotation_reminder_basis = stage, rotated
    connection.rotation_reminder_notification = note
    connection.save(update_fields=[*_REMINDER_FIELDS, "updated_at"])
    return note


@transaction.atomic(durable=True)
def do_resolve_rotation_reminder(connection: Connection, *, actor: Any = SYSTEM) -> bool:
    """Take the reminder off the pages once the credentials it asked about were replaced; False when
    there is nothing to resolve (no reminder, or it is about the current credentials)."""
    check(actor, Action.TEST_CONNECTION, connection)
    connection = Connection.objects.select_for_update().select_related("org").get(pk=connection.pk)
    if not connection.rotation_reminder_stage or sent_stage(connection):
        return False
    note_id, stage = connection.rotation_reminder_notification_id, connection.rotation_reminder_stage
    resolved = resolve_alert(note_id)
    connection.rotation_reminder_stage, connection.rotation_reminder_basis = "", None
    connection.rotation_reminder_notification = None
    connection.save(update_fields=[*_REMINDER_FIELDS, "updated_at"])
    record_event(
        org=connection.org, action=AuditAction.CONNECTION_ROTATION_REMINDER_RESOLVED, actor=actor, target=connection,
        details={"stage": stage, "notification_id": note_id, "taken_off_the_pages": resolved,
                 "credentials_rotated_at": connection.credentials_rotated_at.isoformat()},
    )
    return True


def rotation_reminder_sweep(now: datetime | None = None) -> int:
    """Resolve the reminders of rotated credentials, then send every reminder owed at `now` (the
    Celery beat task); returns how many were sent."""
    for connection in rotated_since_reminder().order_by("pk").iterator():
        try:
            do_resolve_rotation_reminder(connection)
        except Exception as exc:  # one broken row must not stop the others
            logger.warning("Resolving the reminder of connection %s failed: %s", connection.pk, exc.__class__.__name__)
    sent = 0
    for connection in owed_reminders(now).order_by("pk").iterator():
        try:
            sent += do_send_rotation_reminder(connection, now=now) is not None
        except Exception as exc:  # one broken row must not stop the others' reminders
            logger.warning("Rotation reminder for connection %s failed: %s", connection.pk, exc.__class__.__name__)
    return sent
