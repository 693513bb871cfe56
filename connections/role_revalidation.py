"""The health sweep's permissions half (seed 000: "checks authentication and permissions"): the roles
of active connections are re-validated on their own, slower schedule (ROLE_REVALIDATION_INTERVAL),
and a role that drifted, expired or lost what its code needs raises one alert.

Shape, as the health sweep (`connections.tasks.health_sweep`): `due_role_ids` lists the roles to
re-validate with keyset pagination, the beat task fans them out in chunks, and each chunk validates
its roles one after the other with the system actor (`role_validation.do_validate_role`: audited,
masked, safe to re-run). A role someone validated within the last half interval is skipped: the
sweep tops up freshness, it does not repeat a fresh answer. Roles never validated are left to their
owners (a pending role is not "drift").

One alert per condition (`do_record_revalidation`, under a row lock), remembered on the role as
`alert_status` + `alert_notification`:

* drift: an alert each time the permissions change (each drift is a new change; the next
  validation takes it as the baseline, so the same change never alerts twice);
* expired: one alert while the role stays gone;
* invalid: one alert when a usable role (valid or drift) becomes invalid, then quiet while it stays so;
* error (the cloud could not be asked): quiet, whatever alert is open stays open;
* valid again after expired or invalid: the open alert is resolved (taken off the pages) and audited.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.actors import SYSTEM
from accounts.audit import record_event
from accounts.choices import AuditAction
from accounts.models import Notification
from accounts.policy import Action, check

from .alerts import connection_page, raise_alert, resolve_alert
from .choices import ConnectionStatusChoices
from .choices import RoleStatusChoices as Status
from .models import ConnectionRole
from .role_validation import USABLE_STATUSES, do_validate_role

__all__ = ["do_record_revalidation", "due_role_ids", "revalidate_role"]

logger = logging.getLogger(__name__)

_NEVER_SWEPT = (Status.PENDING, Status.VALIDATING)
_RESOLVABLE = (Status.EXPIRED, Status.INVALID)


def due_role_ids(now: datetime | None = None, *, chunk_size: int = 50) -> Iterator[list[int]]:
    """Ids of the roles to re-validate at `now`, in chunks (keyset pagination, constant memory)."""
    now = now or timezone.now()
    fresh_after = now - timedelta(seconds=int(settings.ROLE_REVALIDATION_INTERVAL) / 2)
    due = (
        ConnectionRole.objects.exclude(connection__status=ConnectionStatusChoices.INACTIVE)
        .exclude(status__in=_NEVER_SWEPT)
        .filter(validated_at__lt=fresh_after)
        .order_by("pk")
    )
    last_pk = 0
    while ids := list(due.filter(pk__gt=last_pk).values_list("pk", flat=True)[:chunk_size]):
        yield ids
        last_pk = ids[-1]


def revalidate_role(role: ConnectionRole) -> ConnectionRole:
    """Validate one role as the system and alert (or resolve) by the outcome."""
    previous = role.status
    role = do_validate_role(role, actor=SYSTEM)
    return do_record_revalidation(role, previous, actor=SYSTEM)


def _alert_text(role: ConnectionRole) -> tuple[str, str, str]:
    """(level, title, lead) of the alert for the role's status."""
    label = f"Role '{role.name or role}' of connection '{role.connection.name}'"
    if role.status == Status.DRIFT:
        return Notification.Level.WARNING, f"{label} changed", "Its permissions changed since the last check."
    if role.status == Status.EXPIRED:
        return Notification.Level.ERROR, f"{label} no longer exists", "The role is gone: runs that use it fail."
    return Notification.Level.ERROR, f"{label} is no longer usable", "The role was usable and is not any more."


def _should_alert(role: ConnectionRole, previous: str) -> bool:
    if role.status == Status.DRIFT:
        return True
    if role.status == Status.EXPIRED:
        return role.alert_status != Status.EXPIRED
    return role.status == Status.INVALID and role.alert_status != Status.INVALID and previous in USABLE_STATUSES


@transaction.atomic(durable=True)
def do_record_revalidation(role: ConnectionRole, previous: str, *, actor: Any = SYSTEM) -> ConnectionRole:
    """Raise or resolve the role's alert for the status its re-validation just saved (`previous`: the
    status before it). Holds the role's row lock so two sweeps never both alert."""
    check(actor, Action.MANAGE_ROLES, role.connection)
    locked = (
        ConnectionRole.objects.select_for_update()
        .select_related("connection", "connection__org", "org")
        .filter(pk=role.pk)
        .first()
    )
    if locked is None or locked.status == Status.ERROR:  # deleted meanwhile, or no answer: stay quiet
        return locked or role
    role = locked
    if _should_alert(role, previous):
        level, title, lead = _alert_text(role)
        message = " ".join(part for part in (lead, role.validation_error) if part)
        note = raise_alert(
            role.connection, level=level, title=title, message=message, url=connection_page(role.connection),
            action=AuditAction.CONNECTION_ROLE_ALERT, actor=actor, target=role,
            details={"connection": role.connection.name, "old_status": previous, "new_status": role.status},
        )
        role.alert_status, role.alert_notification = role.status, note
    elif role.status in USABLE_STATUSES and role.alert_status:
        resolved = role.alert_status in _RESOLVABLE and resolve_alert(role.alert_notification_id)
        if resolved:
            record_event(
                org=role.org, action=AuditAction.CONNECTION_ROLE_ALERT_RESOLVED, actor=actor, target=role,
                details={"connection": role.connection.name, "was": role.alert_status, "status": role.status,
                         "notification_id": role.alert_notification_id},
            )
        role.alert_status, role.alert_notification = "", None
    else:
        return role
    role.save(update_fields=["alert_status", "alert_notification", "updated_at"])
    return role
