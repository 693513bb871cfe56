"""The VPN's work on a real Celery worker over Redis (not eager): the API answers 202 with a task id,
the message carries ids only and is sent after the commit, and the worker provisions and destroys."""

from __future__ import annotations

import time
import uuid

import boto3
import pytest
from celery.contrib.testing.worker import start_worker
from kombu import pools

from config.celery import app
from tests.vpn.conftest import tagged
from vpn.models import VpnConnection

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _reset_broker_pools() -> None:
    """Celery and kombu cache broker pools: drop them so this test's broker (and the next test's) apply."""
    pools.reset()
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None


def _wait_for(vpn: VpnConnection, status: str, seconds: float = 60) -> VpnConnection:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        vpn.refresh_from_db()
        if vpn.status == status:
            return vpn
        time.sleep(0.2)
    raise AssertionError(f"VPN stayed {vpn.status}: {vpn.status_detail}")


def test_provision_and_destroy_on_a_real_worker(vpn_settings, ec2, api_as, vpn, onprem, redis_url, settings):
    queue = f"test-vpn-{uuid.uuid4().hex[:8]}"
    saved = {k: app.conf.get(k) for k in ("broker_url", "task_always_eager", "task_default_queue")}
    app.conf.update(broker_url=redis_url, task_always_eager=False, task_default_queue=queue)
    _reset_broker_pools()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    client = api_as("provisioner")
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, queues=[queue],
                          loglevel="WARNING", shutdown_timeout=30):  # fmt: skip
            queued = client.post(f"/api/v1/orgs/acme/vpn/{vpn.pk}/provision/")
            assert queued.status_code == 202 and queued.json()["task_id"]
            vpn = _wait_for(vpn, "active")
            assert [len(v) for v in tagged(ec2, str(vpn.pk)).values()] == [1, 1, 1]
            assert client.post(f"/api/v1/orgs/acme/vpn/{vpn.pk}/destroy/").status_code == 400  # still used
            onprem.delete()
            assert client.post(f"/api/v1/orgs/acme/vpn/{vpn.pk}/destroy/").status_code == 202
            vpn = _wait_for(vpn, "destroyed")
            states = {state for rows in tagged(ec2, str(vpn.pk)).values() for _id, state in rows}
            assert states == {"deleted"}
    finally:
        app.conf.update(saved)
        _reset_broker_pools()


def test_a_worker_retries_while_aws_is_unreachable(vpn_settings, own_moto, api_as, vpn, redis_url, settings):
    start, stop = own_moto
    stop()
    queue = f"test-vpn-{uuid.uuid4().hex[:8]}"
    saved = {k: app.conf.get(k) for k in ("broker_url", "task_always_eager", "task_default_queue")}
    app.conf.update(broker_url=redis_url, task_always_eager=False, task_default_queue=queue)
    _reset_broker_pools()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, queues=[queue],
                          loglevel="WARNING", shutdown_timeout=30):  # fmt: skip
            assert api_as("provisioner").post(f"/api/v1/orgs/acme/vpn/{vpn.pk}/provision/").status_code == 202
            deadline = time.monotonic() + 30
            while "Retrying shortly" not in vpn.status_detail and time.monotonic() < deadline:
                time.sleep(0.2)
                vpn.refresh_from_db()
            assert vpn.status == "provisioning" and "Could not connect to the endpoint URL" in vpn.status_detail
            start()
            vpn = _wait_for(vpn, "active", seconds=90)
    finally:
        app.conf.update(saved)
        _reset_broker_pools()
    ec2 = boto3.client("ec2", region_name="us-east-1")
    assert [len(v) for v in tagged(ec2, str(vpn.pk)).values()] == [1, 1, 1]
