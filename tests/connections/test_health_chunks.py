"""The sweep's chunk (tasks.check_connections_chunk -> verification.check_connections): one round of
writes before the checks and one after, with the same usage rows, audit events and alerts as checking
each connection alone, a constant number of queries, and nothing repeated when a chunk is retried.
AWS checks run against moto in server mode."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from accounts import audit
from accounts.audit import verify_chains
from accounts.models import AuditEvent, Notification
from connections import services, tasks
from connections.models import Connection, ConnectionRole, ConnectionUsage
from connections.verification import check_connections, run_check
from tests.conftest import make_member
from tests.fakes.moto_server import moto, moto_server  # noqa: F401

pytestmark = pytest.mark.django_db

WRONG_ACCOUNT = {"account_id": "999999999999"}
RIGHT_ACCOUNT = {"account_id": "123456789012"}


@pytest.fixture
def fleet(org, other_org, members, make_connection, moto):
    """Six AWS connections in two organizations (so one chunk appends to two audit chains)."""
    conns = [make_connection(org, "aws", name=f"aws-{i}", auth_method="access_key") for i in range(4)]
    conns += [make_connection(other_org, "aws", name=f"aws-g{i}", auth_method="access_key") for i in range(2)]
    return conns


def _admin(conn: Connection):
    return conn.org.memberships.get(role="admin").user


def _chunk(conns: list[Connection]) -> int:
    return tasks.check_connections_chunk([str(c.pk) for c in conns])


def _events(action: str) -> list[str]:
    return sorted(AuditEvent.objects.filter(action=action).values_list("target_id", flat=True))


def test_a_chunk_records_what_checking_each_alone_records(fleet):
    alone, chunked = fleet[:3], fleet[3:]
    for conn in alone:
        run_check(conn)
    assert _chunk(chunked) == 3
    for conn in fleet:
        conn = Connection.objects.get(pk=conn.pk)
        assert (conn.health_status, conn.status) == ("healthy", "active")
        assert conn.last_check_message.startswith("Authenticated as ") and conn.last_used_at is not None
        usage = ConnectionUsage.objects.get(connection=conn)
        assert (usage.purpose, usage.outcome, usage.actor_label) == ("connection-test", "success", "system")
        used = AuditEvent.objects.get(action="connection.credentials_used", target_id=str(conn.pk))
        assert used.details == {"purpose": "connection-test", "resource": "", "usage_id": usage.pk}
        assert used.org_id == conn.org_id and used.actor_type == "system"
        tested = AuditEvent.objects.get(action="connection.tested", target_id=str(conn.pk))
        assert tested.details["ok"] is True and tested.details["message"] == conn.last_check_message
    assert verify_chains()[1] == []  # both organizations' chains are whole after the bulk appends


def test_a_connection_turning_unhealthy_alerts_once_and_its_recovery_resolves(fleet, members):
    failing = fleet[1]
    services.do_update_connection(failing, actor=_admin(failing), config=WRONG_ACCOUNT)
    _chunk(fleet)
    _chunk(fleet)  # still failing: no second alert, no second "tested"
    failing.refresh_from_db()
    assert (failing.health_status, failing.status) == ("unhealthy", "error")
    assert failing.last_check_error.startswith("Authentication failed: ") and "999999999999" in failing.last_check_error
    note = Notification.objects.get()
    assert note.target_id == str(failing.pk) and note.title == "Connection 'aws-1' is failing its check"
    assert _events("connection.alert") == [str(failing.pk)]
    alert = AuditEvent.objects.get(action="connection.alert")
    assert alert.details == {"notification_id": note.pk, "message": failing.last_check_error}
    assert len(_events("connection.tested")) == len(fleet)  # each health change once
    failed_uses = ConnectionUsage.objects.filter(connection=failing, outcome="failure")
    assert failed_uses.count() == 2 and "999999999999" in failed_uses.first().error
    assert ConnectionUsage.objects.filter(outcome="failure").count() == 2  # only the failing connection's

    services.do_update_connection(failing, actor=_admin(failing), config=RIGHT_ACCOUNT)
    _chunk(fleet)
    _chunk(fleet)
    note.refresh_from_db()
    assert note.dismissed_at is not None
    resolved = AuditEvent.objects.get(action="connection.alert_resolved")
    assert resolved.target_id == str(failing.pk) and resolved.details["resolved"] == 1
    assert Connection.objects.get(pk=failing.pk).health_status == "healthy"
    assert verify_chains()[1] == []


def test_recovery_leaves_alerts_that_are_not_the_health_checks(fleet):
    conn = fleet[0]
    services.do_update_connection(conn, actor=_admin(conn), config=WRONG_ACCOUNT)
    _chunk([conn])
    role_alert = Notification.objects.create(
        org=conn.org, level="error", title="Role drifted", target_type="connections.connection", target_id=str(conn.pk)
    )
    ConnectionRole.objects.create(org=conn.org, connection=conn, role_arn="", alert_notification=role_alert)
    services.do_update_connection(conn, actor=_admin(conn), config=RIGHT_ACCOUNT)
    _chunk([conn])
    role_alert.refresh_from_db()
    assert role_alert.dismissed_at is None
    assert Notification.objects.filter(dismissed_at__isnull=True).get() == role_alert
    assert AuditEvent.objects.get(action="connection.alert_resolved").details["resolved"] == 1


def test_a_chunk_costs_the_same_queries_at_any_size(org, members, make_connection, moto, django_assert_max_num_queries):
    conns = [make_connection(org, "aws", name=f"aws-{i}", auth_method="access_key") for i in range(24)]
    services.do_update_connection(conns[0], actor=members["admin"], config=WRONG_ACCOUNT)
    services.do_update_connection(conns[12], actor=members["admin"], config=WRONG_ACCOUNT)
    counts = []
    for part in (conns[:4], conns[4:12], conns[12:]):  # 4, 8 and 12 connections, one turning unhealthy in two
        with CaptureQueriesContext(connection) as queries:
            _chunk(part)
        counts.append(len(queries))
    assert counts[0] == counts[2] and counts[1] < counts[0]  # the alert adds a constant few, not per row
    with django_assert_max_num_queries(counts[0]):
        _chunk(conns)  # all 24 at once: nothing new to alert, so fewer queries still


def test_a_retried_chunk_alerts_once_and_keeps_the_chain(fleet, monkeypatch):
    """The results write fails (the database went away): the task retries the whole chunk, which
    records the credentials' second use, and the alert exactly once."""
    services.do_update_connection(fleet[2], actor=_admin(fleet[2]), config=WRONG_ACCOUNT)
    real, calls = audit.record_events, []

    def flaky(events):
        calls.append(len(events))
        if len(calls) == 2:  # the first chunk's results transaction
            raise OperationalError("server closed the connection unexpectedly")
        return real(events)

    monkeypatch.setattr("connections.verification.record_events", flaky)
    monkeypatch.setattr("connections.runtime.record_events", flaky)
    with pytest.raises(OperationalError):
        _chunk(fleet)  # on a worker: autoretry_for=(OperationalError,) sends it again
    assert not Connection.objects.filter(last_checked_at__isnull=False).exists()  # rolled back whole
    assert not Notification.objects.exists()
    _chunk(fleet)
    _chunk(fleet)  # and a redelivery after success changes nothing but the times
    assert Notification.objects.count() == 1 and _events("connection.alert") == [str(fleet[2].pk)]
    assert Connection.objects.filter(health_status="healthy").count() == len(fleet) - 1
    assert AuditEvent.objects.filter(action="connection.credentials_used").count() == 3 * len(fleet)
    assert verify_chains()[1] == []


def test_one_broken_connection_does_not_stop_its_chunk(fleet):
    """A secret that no longer decrypts is that connection's failed check; the others are checked."""
    broken = fleet[0]
    Connection.objects.filter(pk=broken.pk).update(secrets_envelope=fleet[1].secrets_envelope)
    services.do_set_active(fleet[3], actor=_admin(fleet[3]), active=False)
    assert _chunk(fleet) == len(fleet) - 1  # the deactivated one is not checked
    broken.refresh_from_db()
    assert broken.health_status == "unhealthy" and broken.last_check_error.startswith("Authentication failed: ")
    assert not ConnectionUsage.objects.filter(connection=broken).exists()  # nothing was released
    assert Connection.objects.filter(health_status="healthy").count() == len(fleet) - 2
    assert Connection.objects.get(pk=fleet[3].pk).last_checked_at is None


def test_a_person_testing_many_is_audited_for_each(fleet, members):
    outcomes = check_connections(fleet[:4], actor=members["user"])
    assert [o.ok for o in outcomes] == [True] * 4
    tested = AuditEvent.objects.filter(action="connection.tested", actor_user=members["user"])
    assert tested.count() == 4
    check_connections(fleet[:4], actor=members["user"])
    assert tested.count() == 8  # a person's test is always audited, unchanged or not
    outsider = make_member(fleet[4].org, "viewer", "viewer@globex.test")
    with pytest.raises(Exception) as refused:
        check_connections(fleet[:2], actor=outsider)
    assert refused.type.__name__ == "Http404"
    assert ConnectionUsage.objects.count() == 8  # a refusal records nothing
