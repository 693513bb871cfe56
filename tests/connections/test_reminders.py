"""Rotation reminders (issue 12, item 3): one alert when stored credentials are due, one more when
they are overdue, none on a re-run, and a fresh start when new credentials are entered. The clock is
fixed: the sweep takes `now`, and `credentials_rotated_at` is set to a known instant.

Delivery goes through the existing alert path: the banner (Notification), e-mail to the admins and
the webhook, after the commit. The `rotation_overdue` filter is checked in the API and on the page.
"""

from __future__ import annotations

import http.server
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.urls import reverse

from accounts.choices import AuditAction
from accounts.models import AuditEvent, Notification
from connections import reminders, services, tasks
from connections.models import Connection

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)
CANARY = "CanaryCanaryCanaryCanaryCanary0123456789"
BASE = "/api/v1/orgs/acme/connections/"


def at(connection: Connection, when: datetime) -> Connection:
    """Pretend the stored credentials were entered at `when`."""
    Connection.objects.filter(pk=connection.pk).update(credentials_rotated_at=when)
    connection.refresh_from_db()
    return connection


@pytest.fixture
def keys(org, members, make_connection) -> Connection:
    connection = make_connection(
        org, "aws", name="aws-keys", auth_method="access_key", secrets={"secret_access_key": CANARY}
    )
    return at(connection, T0)


def sweep(now: datetime, capture) -> int:
    with capture(execute=True):
        return reminders.rotation_reminder_sweep(now)


def reminder_notes() -> list[Notification]:
    return list(Notification.objects.filter(title__contains="for rotation").order_by("created_at", "pk"))


def test_due_once_then_overdue_once(keys, settings, django_capture_on_commit_callbacks) -> None:
    settings.ALERT_EMAILS_ENABLED = True
    due, overdue = T0 + 90 * DAY, T0 + (90 + 14) * DAY
    assert keys.rotation_due_at == due and keys.rotation_overdue_at == overdue

    assert sweep(due - timedelta(seconds=1), django_capture_on_commit_callbacks) == 0
    assert sweep(due, django_capture_on_commit_callbacks) == 1
    for later in (due, due + DAY, overdue - timedelta(seconds=1)):  # re-runs send nothing
        assert sweep(later, django_capture_on_commit_callbacks) == 0
    [note] = reminder_notes()
    assert (note.level, note.title) == ("warning", "Credentials of 'aws-keys' are due for rotation")
    assert "last entered on 2026-01-05" in note.message
    assert note.url == reverse("connection_rotate", args=["acme", "aws-keys"])
    assert note.target_id == str(keys.pk) and note.dismissed_at is None
    [message] = mail.outbox
    assert message.subject == "[acme] Credentials of 'aws-keys' are due for rotation"
    assert message.to == ["admin@acme.test"]

    assert sweep(overdue, django_capture_on_commit_callbacks) == 1
    assert sweep(overdue + 30 * DAY, django_capture_on_commit_callbacks) == 0
    notes = reminder_notes()
    assert [n.level for n in notes] == ["warning", "error"]
    assert notes[0].dismissed_at is not None and notes[1].dismissed_at is None  # overdue supersedes due
    assert notes[1].title == "Credentials of 'aws-keys' are overdue for rotation"
    assert "were due on 2026-04-05" in notes[1].message
    assert len(mail.outbox) == 2

    events = AuditEvent.objects.filter(action=AuditAction.CONNECTION_ROTATION_REMINDED).order_by("seq")
    assert [e.details["stage"] for e in events] == ["due", "overdue"]
    assert events[0].actor_type == "system" and events[0].target_id == str(keys.pk)
    for text in [n.title + n.message for n in notes] + [m.body for m in mail.outbox] + [json.dumps(
        [e.details for e in events]
    )]:
        assert CANARY not in text


def test_entering_new_credentials_starts_over(keys, members, django_capture_on_commit_callbacks) -> None:
    assert sweep(T0 + 95 * DAY, django_capture_on_commit_callbacks) == 1
    keys = services.do_rotate_credentials(
        keys, actor=members["admin"], secrets={"secret_access_key": "N" * 40}
    )
    rotated = at(keys, T0 + 96 * DAY)  # rotated on day 96 (the clock of the test)
    assert reminders.sent_stage(rotated) == ""
    assert reminder_notes()[0].dismissed_at is None
    assert sweep(T0 + 110 * DAY, django_capture_on_commit_callbacks) == 0  # the old overdue date: nothing
    [done] = reminder_notes()
    assert done.dismissed_at is not None  # the reminder about the old credentials left the banner
    [resolved] = AuditEvent.objects.filter(action=AuditAction.CONNECTION_ROTATION_REMINDER_RESOLVED)
    assert resolved.details["stage"] == "due" and resolved.details["notification_id"] == done.pk
    assert sweep(T0 + 111 * DAY, django_capture_on_commit_callbacks) == 0
    assert AuditEvent.objects.filter(action=AuditAction.CONNECTION_ROTATION_REMINDER_RESOLVED).count() == 1
    assert sweep(T0 + 186 * DAY, django_capture_on_commit_callbacks) == 1  # the new due date
    assert [(n.level, n.dismissed_at is None) for n in reminder_notes()] == [("warning", False), ("warning", True)]


def test_first_seen_overdue_alerts_once(keys, django_capture_on_commit_callbacks) -> None:
    assert sweep(T0 + 365 * DAY, django_capture_on_commit_callbacks) == 1
    assert sweep(T0 + 366 * DAY, django_capture_on_commit_callbacks) == 0
    assert [n.level for n in reminder_notes()] == ["error"]


def test_nothing_to_rotate_or_inactive_is_not_reminded(org, members, make_connection, keys, settings) -> None:
    federated = at(make_connection(org, "azure", name="az-fed", auth_method="federated"), T0)
    assert federated.secret_fingerprints == {}
    services.do_set_active(keys, actor=members["admin"], active=False)
    assert list(reminders.owed_reminders(T0 + 400 * DAY)) == []
    assert reminders.do_send_rotation_reminder(keys, now=T0 + 400 * DAY) is None
    assert reminders.do_send_rotation_reminder(federated, now=T0 + 400 * DAY) is None
    assert reminder_notes() == []


def test_settings_move_the_dates(keys, settings, django_capture_on_commit_callbacks) -> None:
    settings.ROTATION_REMINDER_DAYS, settings.ROTATION_OVERDUE_GRACE_DAYS = 30, 5
    assert sweep(T0 + 29 * DAY, django_capture_on_commit_callbacks) == 0
    assert sweep(T0 + 30 * DAY, django_capture_on_commit_callbacks) == 1
    assert sweep(T0 + 35 * DAY, django_capture_on_commit_callbacks) == 1


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_reminder_reaches_the_webhook(keys, settings, django_capture_on_commit_callbacks) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received = []
    try:
        settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
        settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        assert sweep(T0 + 91 * DAY, django_capture_on_commit_callbacks) == 1
    finally:
        server.shutdown()
    [body] = _Hook.received
    assert body["org"] == "acme" and body["title"] == "Credentials of 'aws-keys' are due for rotation"
    assert CANARY not in json.dumps(body)


def test_beat_runs_the_sweep_hourly(keys, django_capture_on_commit_callbacks) -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["connection-rotation-reminders"]
    assert entry["task"] == "connections.tasks.rotation_reminder_sweep" and entry["schedule"] == 3600
    at(keys, T0 - 400 * DAY)  # the task reads the real clock: long overdue by now
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.rotation_reminder_sweep.apply().get() == 1
        assert tasks.rotation_reminder_sweep.apply().get() == 0


# --- the rotation_overdue filter ---------------------------------------------------------------------


@pytest.fixture
def mixed(org, make_connection, keys) -> None:
    at(keys, T0 - 400 * DAY)
    fresh = make_connection(org, "aws", name="aws-fresh", auth_method="access_key")
    assert not fresh.rotation_overdue
    at(make_connection(org, "azure", name="az-fed", auth_method="federated"), T0 - 400 * DAY)  # no secrets


def test_rotation_overdue_filter_in_the_api(api_as, mixed) -> None:
    client = api_as("viewer")
    due = client.get(BASE + "?rotation_overdue=true").json()["results"]
    assert [c["name"] for c in due] == ["aws-keys"] and due[0]["rotation_overdue"] is True
    rest = client.get(BASE + "?rotation_overdue=false").json()["results"]
    assert sorted(c["name"] for c in rest) == ["aws-fresh", "az-fed"]
    assert not any(c["rotation_overdue"] for c in rest)
    assert len(client.get(BASE).json()["results"]) == 3
    refused = client.get(BASE + "?rotation_overdue=maybe")
    assert refused.status_code == 400 and "rotation_overdue" in refused.content.decode()


def test_rotation_overdue_filter_on_the_page(client_as, mixed) -> None:
    client = client_as("viewer")
    url = reverse("connection_list", args=["acme"])
    page = client.get(url + "?rotation_overdue=true").content.decode()
    assert "aws-keys" in page and "aws-fresh" not in page and "az-fed" not in page
    assert '<option value="true" selected>Due for rotation</option>' in page
    page = client.get(url + "?rotation_overdue=false").content.decode()
    assert "aws-keys" not in page and "aws-fresh" in page and "az-fed" in page
    page = client.get(url + "?rotation_overdue=maybe").content.decode()
    assert "Correct the filters above" in page and "aws-fresh" not in page
