"""The audit trail: hash chain, verify_audit, same-transaction writes."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, ManagementUtility, call_command
from django.db import DatabaseError, connection, transaction

from accounts import services
from accounts.audit import record_event, verify_chains
from accounts.models import AuditEvent, Environment

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(org, members):
    admin = members["admin"]
    for slug in ("qa", "perf", "demo"):
        services.do_create_environment(org, actor=admin, slug=slug)
    return list(AuditEvent.objects.filter(org=org).order_by("seq"))


def test_events_are_chained_per_org(chain, other_org):
    assert [e.seq for e in chain] == [1, 2, 3]
    assert chain[0].prev_hash == "0" * 64
    assert chain[1].prev_hash == chain[0].hash and chain[2].prev_hash == chain[1].hash
    assert all(e.compute_hash() == e.hash for e in chain)
    assert verify_chains()[1] == []


def test_verify_audit_passes_on_intact_chain(chain, capsys):
    call_command("verify_audit")
    assert "Audit trail intact" in capsys.readouterr().out


def _raw(sql: str, params: list) -> None:
    """Tamper as someone with superuser rights would: on PostgreSQL that means switching triggers off
    first (the append-only trigger refuses UPDATE and DELETE otherwise)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # a superuser's way around triggers, for this session only
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = origin")


def test_database_refuses_raw_update_and_delete_on_postgresql(chain):
    if connection.vendor != "postgresql":
        pytest.skip("the database-level trigger exists on PostgreSQL only (SQLite relies on the ORM guard)")

    for sql in (
        "UPDATE accounts_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM accounts_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [chain[0].pk])
    assert AuditEvent.objects.filter(pk=chain[0].pk, action=chain[0].action).exists()


def test_tampered_row_is_named(chain):
    victim = chain[1]
    _raw("UPDATE accounts_auditevent SET target_repr = %s WHERE id = %s", ["acme/evil", victim.pk])
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit")
    message = str(excinfo.value)
    assert f"event id={victim.pk} (#2)" in message and "acme" in message and "modified" in message


def test_tampered_details_and_rehashed_row_is_caught(chain):
    """An attacker who also recomputes the row's own hash still breaks the link to the next row."""
    victim = chain[0]
    victim.details = {"forged": True}
    _raw(
        "UPDATE accounts_auditevent SET details = %s, hash = %s WHERE id = %s",
        ['{"forged": true}', victim.compute_hash(), victim.pk],
    )
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit")
    assert f"event id={chain[1].pk} (#2)" in str(excinfo.value)
    assert "does not link" in str(excinfo.value)


def test_deleted_row_is_detected(chain):
    _raw("DELETE FROM accounts_auditevent WHERE id = %s", [chain[1].pk])
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit")
    assert f"event id={chain[2].pk} (#3)" in str(excinfo.value) and "missing" in str(excinfo.value)


def test_verify_audit_exit_code(chain):
    _raw("UPDATE accounts_auditevent SET action = %s WHERE id = %s", ["x", chain[2].pk])
    # call_command raises; the command line must exit non-zero (the subprocess form is in test_commands).
    utility = ManagementUtility(["manage.py", "verify_audit"])
    with pytest.raises(SystemExit) as excinfo:
        utility.execute()
    assert excinfo.value.code == 1


@pytest.mark.django_db(transaction=True)
def test_record_event_requires_a_transaction(org):
    with pytest.raises(RuntimeError):
        record_event(org=org, action="org.updated")


def test_record_event_refuses_an_action_outside_the_vocabulary(org):
    with pytest.raises(ValueError), transaction.atomic():
        record_event(org=org, action="org.renamed_by_typo")
    assert not AuditEvent.objects.filter(org=org).exists()


def test_audit_event_in_same_transaction_rolls_back_with_change(org, members):
    with pytest.raises(ValueError), transaction.atomic():
        services.do_create_environment(org, actor=members["admin"], slug="temp")
        raise ValueError("caller failed after the change")
    assert not Environment.objects.filter(slug="temp").exists()
    assert not AuditEvent.objects.filter(org=org).exists()


def test_durable_service_refuses_a_callers_transaction(org, members):
    """A durable do_* has committed when it returns, so it will not run inside someone else's transaction."""
    env = Environment.objects.get(org=org, slug="staging")
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.do_update_environment(env, actor=members["admin"], name="Renamed")
    assert Environment.objects.get(pk=env.pk).name == "Staging"
    assert not AuditEvent.objects.filter(org=org).exists()


def test_secretish_details_are_redacted(org):
    with transaction.atomic():
        event = record_event(
            org=org,
            action="org.updated",
            details={"password": "CANARY-pw", "nested": {"client_secret": "CANARY-s"}, "ok": 1},
        )
    assert "CANARY" not in str(event.details)
    assert event.details["ok"] == 1


def test_audit_rows_refuse_update_and_delete(api_as, org):
    api_as("admin").post("/api/v1/orgs/acme/environments/", {"slug": "qa"})
    event = AuditEvent.objects.get()
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()
