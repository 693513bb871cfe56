"""Cost sync from AWS Cost Explorer, against moto in server mode (seeded CE results)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import requests

from accounts.actors import SYSTEM
from accounts.models import AuditEvent
from connections.models import ConnectionUsage
from finops import services
from finops.choices import SyncStatusChoices
from finops.models import CostRecord, SyncJob
from tests.fakes import moto_server as moto_fakes
from tests.finops.conftest import CANARY_SECRET, aws_connection, ce_period, seed_ce

moto_server = moto_fakes.moto_server
moto = moto_fakes.moto

DAY1, DAY2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


def stored(connection):
    return sorted(
        CostRecord.objects.filter(connection=connection).values_list(
            "charge_period_start", "service_name", "environment_tag", "billed_cost", "environment__slug"
        )
    )


@pytest.fixture(autouse=True)
def _reset(moto):
    requests.post(f"{moto}/moto-api/reset", timeout=5)


def test_backfill_writes_focus_rows_attributed_to_environments(org, members, moto):
    connection = aws_connection(org)
    seed_ce(moto, [
        ce_period(DAY1, [("Amazon Elastic Compute Cloud - Compute", "production", "12.50"),
                         ("Amazon Simple Storage Service", "", "1.25")]),
        ce_period(DAY2, [("Amazon Elastic Compute Cloud - Compute", "Staging", "3.10")]),
    ])  # fmt: skip
    job = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY2, now=DAY2)
    job.refresh_from_db()
    assert job.status == SyncStatusChoices.SUCCEEDED, job.error
    assert job.rows_written == 3
    assert (job.range_start, job.range_end) == (DAY1, DAY2 + dt.timedelta(days=1))
    assert stored(connection) == [
        (DAY1, "Amazon Elastic Compute Cloud - Compute", "production", Decimal("12.50"), "production"),
        # untagged, and the connection has two environments: not attributed
        (DAY1, "Amazon Simple Storage Service", "", Decimal("1.25"), None),
        (DAY2, "Amazon Elastic Compute Cloud - Compute", "Staging", Decimal("3.10"), "staging"),
    ]
    record = CostRecord.objects.get(service_name__startswith="Amazon Elastic", charge_period_start=DAY1)
    assert record.service_category == "Compute"
    assert record.sub_account_id == "123456789012"
    assert record.billing_period_start == DAY1 and record.charge_period_end == DAY2
    assert isinstance(record.billed_cost, Decimal)
    # the credentials' use is audited like any other
    assert ConnectionUsage.objects.filter(connection=connection, purpose="FinOps cost sync").count() == 1
    assert AuditEvent.objects.filter(org=org, action="finops.sync_completed").count() == 1


def test_resync_of_the_same_range_gives_the_same_rows(org, members, moto):
    connection = aws_connection(org)
    seed_ce(moto, [ce_period(DAY1, [("AWS Lambda", "production", "2.00")]),
                   ce_period(DAY2, [("AWS Lambda", "production", "4.00")])])  # fmt: skip
    services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY2, now=DAY2)
    first = stored(connection)
    ids = set(CostRecord.objects.values_list("pk", flat=True))
    job = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY2, now=DAY2)
    job.refresh_from_db()
    assert job.status == SyncStatusChoices.SUCCEEDED
    assert stored(connection) == first
    assert len(first) == 2 and not ids & set(CostRecord.objects.values_list("pk", flat=True))  # replaced


def test_incremental_sync_starts_at_the_last_synced_day(org, members, moto):
    connection = aws_connection(org)
    seed_ce(moto, [ce_period(DAY1, [("AWS Lambda", "production", "2.00")])])
    services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY1, now=DAY2)
    job = services.do_request_sync(connection, actor=members["admin"], now=dt.date(2026, 11, 5))
    assert (job.kind, job.range_start, job.range_end) == ("incremental", DAY1, dt.date(2026, 11, 6))


def test_a_sync_with_the_server_stopped_fails_and_keeps_earlier_data(org, members, monkeypatch):
    # late import: moto.server loads Flask (~1 s)
    from moto.server import ThreadedMotoServer

    from connections.providers.aws import clients

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    clients.clear()
    connection = aws_connection(org)
    seed_ce(url, [ce_period(DAY1, [("AWS Lambda", "production", "2.00")])])
    services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY1, now=DAY2)
    before = stored(connection)
    assert len(before) == 1
    server.stop()
    job = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY2, now=DAY2)
    job.refresh_from_db()
    assert job.status == SyncStatusChoices.FAILED
    assert "Could not" in job.error and "connect to the endpoint" in job.error
    assert CANARY_SECRET not in job.error
    assert stored(connection) == before
    assert AuditEvent.objects.filter(org=org, action="finops.sync_failed").count() == 1


def test_transient_failure_retries_then_fails(org, members, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    from connections.providers.aws import clients

    clients.clear()
    connection = aws_connection(org)
    monkeypatch.setattr("finops.services.send_on_commit", lambda *a, **k: None)
    job = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY1, now=DAY2)
    assert services.run_sync_job(job.pk, final_attempt=False).status == SyncStatusChoices.RETRYING
    assert services.run_sync_job(job.pk, final_attempt=True).status == SyncStatusChoices.FAILED
    job.refresh_from_db()
    assert job.attempts == 2
    # a finished job is not run again (redelivery is harmless)
    assert services.run_sync_job(job.pk).attempts == 2


def test_providers_without_cost_source_get_a_status_not_an_error(org, members):
    from tests.connections.conftest import create_connection

    connection = create_connection(org, "github")
    job = services.do_request_sync(connection, actor=members["admin"])
    assert job.status == SyncStatusChoices.UNAVAILABLE
    assert job.error == "Cost sync is not available for GitHub."


def test_backfill_range_is_validated_by_field(org, members):
    connection = aws_connection(org)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        services.do_request_sync(connection, actor=members["admin"], start="nope", end=DAY1, now=DAY2)
    assert "start" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.do_request_sync(connection, actor=members["admin"], start=DAY2, end=DAY1, now=DAY2)
    assert "start" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY2, now=DAY1)
    assert "end" in exc.value.message_dict
    assert SyncJob.objects.count() == 0


def test_daily_beat_task_queues_incremental_syncs(org, members, moto):
    from finops.tasks import daily_cost_sync

    connection = aws_connection(org)
    seed_ce(moto, [])
    assert daily_cost_sync() == 1
    job = SyncJob.objects.get(connection=connection)
    assert job.kind == "incremental" and job.requested_by is None
    assert job.status == SyncStatusChoices.SUCCEEDED, job.error
    assert SYSTEM is not None


def test_the_task_retries_transient_failures_with_backoff(org, members, monkeypatch, settings):
    """On a worker (not eager) an unreachable cloud retries FINOPS_SYNC_MAX_RETRIES times, backing off."""
    from config.celery import app
    from finops.tasks import sync_costs_task

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    from connections.providers.aws import clients

    clients.clear()
    settings.FINOPS_SYNC_MAX_RETRIES = 2
    settings.FINOPS_RETRY_BACKOFF_SECONDS = 60
    connection = aws_connection(org)
    monkeypatch.setattr("finops.services.send_on_commit", lambda *a, **k: None)
    job = services.do_request_sync(connection, actor=members["admin"], start=DAY1, end=DAY1, now=DAY2)
    countdowns = []
    original = sync_costs_task.retry

    def recording_retry(*args, **kwargs):
        countdowns.append(kwargs.get("countdown"))
        return original(*args, **kwargs)

    from celery.exceptions import Retry

    monkeypatch.setattr(sync_costs_task, "retry", recording_retry)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # as on a worker: a transient failure is retried, not final
    try:
        for attempt in range(3):  # the worker redelivers each retry with request.retries = attempt
            try:
                sync_costs_task.apply(args=[job.pk], retries=attempt, throw=True)
            except Retry:
                job.refresh_from_db()
                assert job.status == SyncStatusChoices.RETRYING and job.error
    finally:
        app.conf.task_always_eager = eager
    job.refresh_from_db()
    assert job.status == SyncStatusChoices.FAILED and job.attempts == 3
    assert countdowns == [60, 120]  # exponential backoff, then the last attempt is final
