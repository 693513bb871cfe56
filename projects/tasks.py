"""Celery task that executes a Terraform run. Idempotent: only a `queued` run is taken, once."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import execution


@shared_task(bind=True, acks_late=True, max_retries=0)
def execute_run_task(self: Any, run_id: int) -> dict[str, Any]:
    run = execution.execute_run(run_id)
    if run is None:
        return {"run": run_id, "status": "not-queued"}
    return {"run": run.pk, "status": run.status}
