"""Celery task that validates a connection role (imported by connections/tasks.py for autodiscovery).

The message carries ids only (DESIGN.md: no secret ever travels through the broker); the task
re-reads the role and the acting user. Re-validating is always safe, so a redelivered message
(acks_late) or a retry simply validates again. Network trouble is saved on the role as `error` and,
on a worker, raised as `RoleValidationUnavailable` (a ConnectionError) so Celery retries with backoff;
in eager mode (no broker, the default) the request that asked gets the `error` status right away
instead of waiting through retries.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

logger = logging.getLogger(__name__)


def _actor(actor_user_id: int | None) -> Any:
    """The user who asked, or the platform itself (scheduled re-validation) when there is none."""
    from accounts.models import User
    from accounts.policy import SYSTEM

    if actor_user_id is None:
        return SYSTEM
    return User.objects.filter(pk=actor_user_id, is_active=True).first()


@shared_task(bind=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3)
def validate_role_task(self: Any, role_id: int, actor_user_id: int | None) -> str | None:
    """Validate one role; returns its new status (None when the role or its requester is gone)."""
    from connections.models import ConnectionRole
    from connections.role_validation import do_validate_role

    role = ConnectionRole.objects.select_related("connection", "connection__org", "org").filter(pk=role_id).first()
    if role is None:
        logger.info("Connection role %s was deleted before its validation ran.", role_id)
        return None
    actor = _actor(actor_user_id)
    if actor is None:
        logger.warning("Validation of connection role %s skipped: user %s is gone.", role_id, actor_user_id)
        return None
    role = do_validate_role(role, actor=actor, raise_transient=not self.request.is_eager)
    return role.status
