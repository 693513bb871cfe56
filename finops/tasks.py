"""FinOps Celery tasks: messages carry ids only. A sync job is idempotent (a finished job is not run
again; a range is replaced in one transaction), so redeliveries and retries are safe."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from accounts.actors import SYSTEM

from . import services
from .choices import SyncStatusChoices

__all__ = ["daily_cost_sync", "sync_costs_task"]

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def sync_costs_task(self: Any, job_id: int) -> dict[str, Any]:
    """Run a sync job; a transient failure (throttling, the cloud unreachable) retries with exponential
    backoff up to FINOPS_SYNC_MAX_RETRIES times. Eagerly (no broker) the first failure is final, so the
    request that asked sees the outcome at once."""
    retries = self.request.retries or 0
    final = bool(self.app.conf.task_always_eager) or retries >= settings.FINOPS_SYNC_MAX_RETRIES
    job = services.run_sync_job(job_id, final_attempt=final)
    if job is None:
        return {"skipped": True}
    if job.status == SyncStatusChoices.RETRYING:
        countdown = settings.FINOPS_RETRY_BACKOFF_SECONDS * (2**retries)
        raise self.retry(countdown=countdown, max_retries=settings.FINOPS_SYNC_MAX_RETRIES)
    if job.status == SyncStatusChoices.SUCCEEDED:
        try:
            services.evaluate_after_sync(job)
        except Exception as exc:  # an alert problem must not turn a stored sync into a failed task
            logger.warning("FinOps alert evaluation after job %s failed: %s", job_id, exc.__class__.__name__)
    return {"status": job.status, "rows_written": job.rows_written}


@shared_task(acks_late=True)
def daily_cost_sync() -> int:
    """The beat's daily run: an incremental sync of every active connection that has a cost source."""
    queued = 0
    for connection in services.syncable_connections().select_related("org"):
        try:
            services.do_request_sync(connection, actor=SYSTEM)
            queued += 1
        except Exception as exc:  # one connection's problem must not stop the others
            logger.warning("FinOps daily sync of %s failed to start: %s", connection.pk, exc.__class__.__name__)
    return queued
