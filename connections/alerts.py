"""Raising and resolving the alerts of the scheduled checks that are not the health check: rotation
reminders (`connections.reminders`) and the role re-validation (`connections.role_revalidation`).

They go through the same path as a failing health check (`verification.deliver_alert`): a
`Notification` shown on the pages until dismissed, e-mail to the organization's admins and the
webhook when configured, delivered after the commit. Callers run inside their own durable
transaction and decide *whether* to alert; this module only does the bookkeeping, so the rules for
"once" live next to the state they read.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit import record_event
from accounts.models import Notification

from .models import Connection
from .verification import deliver_alert

__all__ = ["connection_page", "raise_alert", "resolve_alert"]


def connection_page(connection: Connection, view: str = "connection_detail") -> str:
    return reverse(view, kwargs={"org_slug": connection.org.slug, "connection_name": connection.name})


def raise_alert(
    connection: Connection,
    *,
    level: str,
    title: str,
    message: str,
    url: str,
    action: str,
    actor: Any,
    target: Any,
    details: dict[str, Any],
) -> Notification:
    """Create the notification, audit it as `action`, and deliver it (e-mail, webhook) after the commit."""
    note = Notification.objects.create(
        org=connection.org, level=level, title=title[:200], message=message[:1000], url=url,
        target_type="connections.connection", target_id=str(connection.pk),
    )
    record_event(
        org=connection.org, action=action, actor=actor, target=target,
        details={"notification_id": note.pk, "message": note.message, **details},
    )
    transaction.on_commit(lambda: deliver_alert(note.pk))
    return note


def resolve_alert(note_id: int | None) -> bool:
    """Take an alert off the pages (as if dismissed) when what it was about is fixed; False if it already was."""
    if note_id is None:
        return False
    return bool(
        Notification.objects.filter(pk=note_id, dismissed_at__isnull=True).update(
            dismissed_at=timezone.now(), updated_at=timezone.now()
        )
    )
