"""Sending Celery tasks from the code that asked for them: after the commit, with ids only.

The counterpart of Zulip's `queue_event_on_commit`: a `do_*` service that wants work done on a worker
calls `send_on_commit(task, ...)` instead of `task.delay(...)`, so a worker never looks for rows that
are not committed yet, and a transaction that rolls back sends nothing.
"""

from __future__ import annotations

from typing import Any

from celery import Task, uuid
from celery.result import AsyncResult
from django.db import transaction

__all__ = ["send_on_commit"]


def send_on_commit(task: Task, *args: Any, **kwargs: Any) -> AsyncResult:
    """Send `task(*args, **kwargs)` when the current transaction commits (at once when none is open).

    With a broker, the task id is chosen here, so the caller can answer "queued as <id>" even while
    the message waits for the commit.

    In eager mode (no broker: the default runtime and the tests) the task is a plain call in this
    process on this database connection: it sees the caller's rows, and its writes commit or roll back
    with the caller's transaction, so there is nothing to wait for. It runs now and the caller gets its
    `EagerResult`, which is how a page can show the outcome of the work it asked for. The task's own
    durable `do_*` refuse to run inside a transaction, so call this outside one (pages and API do:
    ATOMIC_REQUESTS is off).
    """
    if task.app.conf.task_always_eager:
        # `apply` runs the task here without touching the broker's connection pool (`delay` acquires
        # a producer even in eager mode, which fails once a pool was closed, e.g. by a worker's shutdown).
        return task.apply(args=args, kwargs=kwargs)
    task_id = uuid()
    transaction.on_commit(lambda: task.apply_async(args, kwargs, task_id=task_id))
    return task.AsyncResult(task_id)
