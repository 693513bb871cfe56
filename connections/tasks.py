"""Celery tasks for connections. Messages carry ids only, never a secret; every task is idempotent
(re-running a check, a chunk or a role validation just records a fresher result), so retries and
redeliveries are safe. Pages and the API ask for a test or a validation through
`services.do_request_connection_test` / `do_request_role_validation`, which send these after the commit.

Role validation: the task re-reads the role and the acting user. Network trouble is saved on the role
as `error` and, on a worker, raised as `RoleValidationUnavailable` (a ConnectionError) so Celery retries
with backoff; in eager mode (no broker, the default) the request that asked gets the `error` status
right away instead of waiting through retries."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from accounts.actors import SYSTEM
from accounts.models import User

from . import reminders, role_revalidation
from .choices import ConnectionStatusChoices
from .models import Connection, ConnectionRole
from .oauth_tokens import do_refresh_oauth_token
from .role_validation import do_validate_role
from .verification import check_connections, run_check

__all__ = [
    "check_connections_chunk",
    "health_sweep",
    "refresh_oauth_tokens",
    "revalidate_roles_chunk",
    "role_revalidation_sweep",
    "rotation_reminder_sweep",
    "test_connection_task",
    "validate_role_task",
]

logger = logging.getLogger(__name__)


def _actor(actor_user_id: int | None) -> Any:
    if actor_user_id is None:
        return SYSTEM
    return User.objects.filter(pk=actor_user_id, is_active=True).first()


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def test_connection_task(self: Any, connection_id: str, actor_user_id: int | None = None) -> dict[str, Any]:
    """Test one connection (the Test button and the API). The acting user is re-checked here."""
    connection = Connection.objects.select_related("org").filter(pk=connection_id).first()
    actor = _actor(actor_user_id)
    if connection is None or actor is None:
        return {"skipped": True}
    outcome = run_check(connection, actor=actor)
    return {"ok": outcome.ok, "duration_ms": outcome.duration_ms}


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def check_connections_chunk(self: Any, connection_ids: list[str]) -> int:
    """Check a chunk of connections one after the other; parallelism comes from the workers.

    One round of writes before the checks (the credentials' use) and one after (results, audit events,
    alerts), so a chunk costs a constant number of queries however large it is. Safe to retry: a re-run
    records fresher results, and alerts are decided on the saved health under the row lock."""
    connections = list(
        Connection.objects.select_related("org", "cloud_connection").filter(pk__in=connection_ids)
        .exclude(status=ConnectionStatusChoices.INACTIVE).order_by("pk")
    )
    try:
        return len(check_connections(connections, actor=SYSTEM))
    except OperationalError:
        raise  # the database is away: retry the chunk
    except Exception as exc:  # a chunk-wide failure (e.g. the audit write): one at a time, so one row can't block all
        logger.warning("Health check chunk failed (%s); checking its connections one by one.", exc.__class__.__name__)
    checked = 0
    for connection in connections:
        try:
            run_check(connection, actor=SYSTEM)
            checked += 1
        except Exception as exc:  # one broken row must not stop the rest of the chunk
            logger.warning("Health check of connection %s failed: %s", connection.pk, exc.__class__.__name__)
    return checked


@shared_task(acks_late=True)
def health_sweep(chunk_size: int | None = None) -> int:
    """Fan the active connections out to `check_connections_chunk` tasks and return at once.

    Reads ids with keyset pagination (constant memory at any number of connections) and never waits
    on the chunks: with N workers, N chunks run at the same time.
    """
    size = chunk_size or int(settings.HEALTH_CHECK_CHUNK_SIZE)
    active = Connection.objects.exclude(status=ConnectionStatusChoices.INACTIVE).order_by("pk")
    last_pk, chunks = None, 0
    while True:
        page = active.filter(pk__gt=last_pk) if last_pk is not None else active
        ids = [str(pk) for pk in page.values_list("pk", flat=True)[:size]]
        if not ids:
            return chunks
        check_connections_chunk.delay(ids)
        chunks += 1
        last_pk = ids[-1]


@shared_task(bind=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3)
def validate_role_task(self: Any, role_id: int, actor_user_id: int | None) -> str | None:
    """Validate one role; returns its new status (None when the role or its requester is gone)."""
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


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def rotation_reminder_sweep() -> int:
    """Send the rotation reminders owed now (hourly, Celery beat); a re-run sends nothing twice."""
    return reminders.rotation_reminder_sweep()


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def revalidate_roles_chunk(self: Any, role_ids: list[int]) -> int:
    """Re-validate a chunk of roles as the system, alerting once on drift, expiry or lost permissions."""
    done = 0
    for role in ConnectionRole.objects.select_related("connection", "connection__org", "org").filter(
        pk__in=role_ids
    ).exclude(connection__status=ConnectionStatusChoices.INACTIVE):
        try:
            role_revalidation.revalidate_role(role)
            done += 1
        except Exception as exc:  # one broken role must not stop the rest of the chunk
            logger.warning("Re-validation of connection role %s failed: %s", role.pk, exc.__class__.__name__)
    return done


@shared_task(acks_late=True)
def role_revalidation_sweep(chunk_size: int | None = None) -> int:
    """Fan the roles due for re-validation out to `revalidate_roles_chunk` tasks (ROLE_REVALIDATION_INTERVAL)."""
    chunks = 0
    for ids in role_revalidation.due_role_ids(chunk_size=chunk_size or int(settings.HEALTH_CHECK_CHUNK_SIZE)):
        revalidate_roles_chunk.delay(ids)
        chunks += 1
    return chunks
@shared_task(acks_late=True)
def refresh_oauth_tokens() -> int:
    """Renew every OAuth access token that expires within `OAUTH_REFRESH_MARGIN_SECONDS` (Celery beat).

    Safe to run twice: `do_refresh_oauth_token` re-reads the expiry under a row lock and does nothing when
    another run already refreshed the token. Returns how many tokens were renewed.
    """
    margin = int(settings.OAUTH_REFRESH_MARGIN_SECONDS)
    due = timezone.now() + timedelta(seconds=margin)
    candidates = (
        Connection.objects.select_related("org")
        .exclude(status=ConnectionStatusChoices.INACTIVE)
        .filter(oauth_expires_at__isnull=False, oauth_expires_at__lte=due)
        .order_by("oauth_expires_at")
    )
    refreshed = 0
    for connection in candidates:
        try:
            refreshed += do_refresh_oauth_token(connection, actor=SYSTEM, margin_seconds=margin)
        except Exception as exc:  # one broken row must not stop the others
            logger.warning("OAuth refresh of connection %s failed: %s", connection.pk, exc.__class__.__name__)
    return refreshed
