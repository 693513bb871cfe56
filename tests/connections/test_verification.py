"""Testing connections: the Test action, saved results, alerts, and the health sweep (eager and on a
real Celery worker with Redis). AWS checks run against moto in server mode over HTTP."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.exceptions import PermissionDenied
from guardian.shortcuts import assign_perm

from accounts.models import AuditEvent, Notification, Organization
from accounts.policy import Action
from config.celery import app
from connections import services, tasks
from connections.models import Connection, ConnectionUsage
from connections.tasks import health_sweep
from connections.verification import run_check
from tests.connections.conftest import connections_state, create_connection
from tests.fakes.moto_server import moto, moto_server  # noqa: F401
from tests.permissions import Case, PermissionMatrix

pytestmark = pytest.mark.django_db

URL = "/api/v1/orgs/acme/connections/{name}/test/"


@pytest.fixture
def aws(org, members, make_connection, moto):
    return make_connection(org, "aws", name="aws-dev", auth_method="access_key", environments=("development",))


def test_test_button_saves_a_healthy_result(api_as, aws):
    response = api_as("user").post(URL.format(name="aws-dev"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "active" and body["health"]["status"] == "healthy"
    assert body["health"]["last_checked_at"] and body["health"]["error"] == ""
    assert body["health"]["duration_ms"] is not None
    assert body["health"]["message"].startswith("Authenticated as ")  # the provider's words are kept
    assert AuditEvent.objects.filter(action="connection.tested", details__ok=True).count() == 1
    usage = ConnectionUsage.objects.get(connection=aws)
    assert usage.purpose == "connection-test" and usage.actor_label == "user@acme.test"


def test_failed_check_sets_error_and_alerts_once(api_as, aws, members):
    services.do_update_connection(aws, actor=members["admin"], config={"account_id": "999999999999"})
    for _ in range(2):
        body = api_as("user").post(URL.format(name="aws-dev")).json()
    assert body["status"] == "error" and body["health"]["status"] == "unhealthy"
    assert body["health"]["error"].startswith("Authentication failed: ")
    assert "999999999999" in body["health"]["error"]
    assert Notification.objects.filter(org=aws.org).count() == 1  # alert on the change only
    assert AuditEvent.objects.filter(action="connection.alert").count() == 1
    services.do_update_connection(aws, actor=members["admin"], config={"account_id": "123456789012"})
    body = api_as("user").post(URL.format(name="aws-dev")).json()
    assert body["status"] == "active" and body["health"]["status"] == "healthy"


def test_recovery_resolves_the_open_alert_once(api_as, aws, members, client):
    services.do_update_connection(aws, actor=members["admin"], config={"account_id": "999999999999"})
    api_as("user").post(URL.format(name="aws-dev"))
    alert = Notification.objects.get(org=aws.org)
    assert alert.dismissed_at is None
    services.do_update_connection(aws, actor=members["admin"], config={"account_id": "123456789012"})
    for _ in range(2):
        api_as("user").post(URL.format(name="aws-dev"))
    alert.refresh_from_db()
    assert alert.dismissed_at is not None
    assert AuditEvent.objects.filter(action="connection.alert_resolved", details__resolved=1).count() == 1
    client.force_login(members["admin"])
    page = client.get("/o/acme/connections/aws-dev/").content.decode()
    assert "is failing its check" not in page and "Authenticated as " in page


def test_card_shows_the_failing_checks_message(api_as, aws, members, client):
    services.do_update_connection(aws, actor=members["admin"], config={"account_id": "999999999999"})
    error = api_as("user").post(URL.format(name="aws-dev")).json()["health"]["error"]
    client.force_login(members["viewer"])
    page = client.get("/o/acme/connections/").content.decode()
    assert 'class="card-check-error"' in page and "999999999999" in page
    assert error[:60] in page


def test_queued_test_is_sent_after_the_commit(
    api_as, aws, members, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """With a broker, the API answers 202 with the task id, and the message (ids only) leaves on commit."""
    sent = []
    monkeypatch.setitem(tasks.test_connection_task.app.conf, "task_always_eager", False)
    monkeypatch.setattr(
        tasks.test_connection_task, "apply_async", lambda args, kwargs, task_id: sent.append((args, kwargs, task_id))
    )
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_as("user").post(URL.format(name="aws-dev"))
        assert sent == []  # nothing before the commit
    assert response.status_code == 202 and len(callbacks) == 1
    assert response.json() == {"status": "queued", "task_id": sent[0][2]}
    assert sent == [((str(aws.pk),), {"actor_user_id": members["user"].pk}, sent[0][2])]
    assert Connection.objects.get(pk=aws.pk).last_checked_at is None  # not run here


class TestRoleTable(PermissionMatrix):
    """The Test action: users and up; another organization's connection is 404 (also under our own
    organization's URL), for an outsider too; anonymous is refused; a refused test records nothing."""

    cases = [Case.api("post", "/api/v1/orgs/{org}/connections/{conn}/test/", Action.TEST_CONNECTION, ok=200)]

    @pytest.fixture(autouse=True)
    def _aws(self, moto) -> None:
        """The check runs against moto."""

    def objects(self, org: Organization) -> dict[str, Any]:
        name = f"aws-{org.slug}"
        create_connection(org, "aws", name=name, auth_method="access_key", environments=("development",))
        return {"conn": name}

    def snapshot(self, org: Organization) -> tuple:
        return connections_state(org), AuditEvent.objects.filter(org=org, action="connection.tested").count()


def test_results_never_hold_the_secret(api_as, aws):
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    services.do_rotate_credentials(aws, actor=aws.org.memberships.get(role="admin").user,
                                   secrets={"secret_access_key": secret})
    response = api_as("user").post(URL.format(name="aws-dev"))
    assert secret not in response.content.decode()
    assert not AuditEvent.objects.filter(details__icontains=secret).exists()


def test_eager_sweep_checks_active_connections_only(org, members, make_connection, moto):
    conns = [make_connection(org, "aws", name=f"aws-{i}", auth_method="access_key") for i in range(5)]
    services.do_set_active(conns[0], actor=members["admin"], active=False)
    assert health_sweep(chunk_size=2) == 2  # 4 active connections in chunks of 2
    checked = Connection.objects.filter(last_checked_at__isnull=False)
    assert sorted(c.name for c in checked) == ["aws-1", "aws-2", "aws-3", "aws-4"]
    # A second sweep with unchanged results is not re-audited as "tested" (each use still is).
    health_sweep(chunk_size=2)
    assert AuditEvent.objects.filter(action="connection.tested").count() == 4
    assert AuditEvent.objects.filter(action="connection.credentials_used").count() == 8


def _reset_broker_pools(app) -> None:
    """Celery caches its broker connection pool on first use: drop it so the new broker_url applies."""
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_sweep_on_a_real_celery_worker(org, members, make_connection, moto, redis_url, settings):
    """The beat task fans out to a real worker over Redis; every active connection gets checked."""

    for i in range(12):
        make_connection(org, "aws", name=f"aws-w{i}", auth_method="access_key")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    saved = {k: app.conf.get(k) for k in ("broker_url", "task_always_eager", "task_default_queue")}
    app.conf.update(broker_url=redis_url, task_always_eager=False, task_default_queue=queue)
    _reset_broker_pools(app)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    try:
        with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, queues=[queue],
                          loglevel="WARNING", shutdown_timeout=30):
            result = health_sweep.delay(chunk_size=5)
            assert result.id
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if not Connection.objects.filter(last_checked_at__isnull=True).exists():
                    break
                time.sleep(0.2)
    finally:
        app.conf.update(saved)
        _reset_broker_pools(app)
    assert Connection.objects.filter(health_status="healthy").count() == 12


def test_alert_is_shown_and_dismissed(api_as, aws, members, client):
    services.do_update_connection(aws, actor=members["admin"], config={"account_id": "999999999999"})
    api_as("user").post(URL.format(name="aws-dev"))
    notes = api_as("viewer").get("/api/v1/orgs/acme/notifications/?open=true").json()["results"]
    assert len(notes) == 1 and notes[0]["title"] == "Connection 'aws-dev' is failing its check"
    assert notes[0]["url"] == "/o/acme/connections/aws-dev/"
    client.force_login(members["viewer"])
    page = client.get("/o/acme/").content.decode()
    assert "1 open alert" in page and "failing its check" in page and "Dismiss" not in page
    assert client.post(f"/o/acme/alerts/{notes[0]['id']}/dismiss/").status_code == 403
    assert api_as("viewer").post(f"/api/v1/orgs/acme/notifications/{notes[0]['id']}/dismiss/").status_code == 403
    client.force_login(members["user"])
    assert "Dismiss" in client.get("/o/acme/").content.decode()
    assert client.post(f"/o/acme/alerts/{notes[0]['id']}/dismiss/").status_code == 302
    assert api_as("user").get("/api/v1/orgs/acme/notifications/?open=true").json()["results"] == []
    assert "open alert" not in client.get("/o/acme/").content.decode()
    assert AuditEvent.objects.filter(action="notification.dismissed").count() == 1


def test_alert_webhook_delivery(api_as, aws, members, settings, django_capture_on_commit_callbacks):
    """The alert is POSTed as JSON to the configured webhook (a local receiver here)."""

    received: list[dict] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    try:
        services.do_update_connection(aws, actor=members["admin"], config={"account_id": "999999999999"})
        with django_capture_on_commit_callbacks(execute=True):
            api_as("user").post(URL.format(name="aws-dev"))
    finally:
        server.shutdown()
    assert len(received) == 1
    assert received[0]["org"] == "acme" and "aws-dev" in received[0]["title"]


def test_a_grant_to_test_is_enough_to_test_and_keeps_a_healthy_connection_healthy(api_as, aws, members):
    """A per-object test_connection grant (without use_connection) runs a real test: it must not fail
    with a permission error, turn the connection to error and alert the admins."""
    api_as("user").post(URL.format(name="aws-dev"))
    assert Connection.objects.get(pk=aws.pk).health_status == "healthy"
    assign_perm("connections.test_connection", members["viewer"], aws)
    response = api_as("viewer").post(URL.format(name="aws-dev"))
    assert response.status_code == 200, response.content
    assert response.json()["health"]["status"] == "healthy"
    assert not Notification.objects.filter(org=aws.org).exists()
    assert ConnectionUsage.objects.filter(connection=aws, actor_label="viewer@acme.test").count() == 1


def test_a_permission_problem_is_never_recorded_as_the_connections_health(aws, members):
    with pytest.raises(PermissionDenied):
        run_check(aws, actor=members["viewer"])
    connection = Connection.objects.get(pk=aws.pk)
    assert connection.health_status == "unknown" and connection.status == "active"
    assert not Notification.objects.filter(org=aws.org).exists()
