"""verify_audit detects deletion of a chain's newest events: the chain's head (updated with each event,
in the same transaction) and signed checkpoints (Celery beat) remember where the chain ended."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from accounts import services
from accounts.audit import record_event, verify_chains, write_checkpoints
from accounts.choices import AuditAction
from accounts.models import AuditCheckpoint, AuditEvent, AuditHead, chain_key
from accounts.tasks import write_audit_checkpoints
from tests.accounts.test_audit import _raw

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(org, members):
    for slug in ("qa", "perf", "demo"):
        services.do_create_environment(org, actor=members["admin"], slug=slug)
    return list(AuditEvent.objects.filter(org=org).order_by("seq"))


def _head(org) -> AuditHead:
    return AuditHead.objects.get(chain=chain_key(org.pk))


def test_head_follows_every_append(chain, org):
    head = _head(org)
    assert (head.last_seq, head.last_hash, head.count) == (3, chain[-1].hash, 3)
    assert verify_chains()[1] == []


def test_head_rolls_back_with_the_change(chain, org, members):
    with pytest.raises(RuntimeError), transaction.atomic():
        record_event(org=org, action=AuditAction.ORG_UPDATED, actor=members["admin"], target=org)
        raise RuntimeError("the change failed")
    assert _head(org).last_seq == 3 and verify_chains()[1] == []


def test_deleting_the_newest_events_is_detected(chain, org):
    _raw("DELETE FROM accounts_auditevent WHERE id IN (%s, %s)", [chain[1].pk, chain[2].pk])
    _, breaks = verify_chains()
    assert len(breaks) == 1 and "ends at #1" in str(breaks[0]) and "head records #3" in str(breaks[0])
    with pytest.raises(CommandError, match="newest events were deleted"):
        call_command("verify_audit")


def test_the_next_event_after_a_truncation_keeps_the_gap_visible(chain, org, members):
    _raw("DELETE FROM accounts_auditevent WHERE id = %s", [chain[2].pk])
    services.do_create_environment(org, actor=members["admin"], slug="after")
    assert AuditEvent.objects.filter(org=org).order_by("-seq").first().seq == 4
    assert "event #3 is missing" in str(verify_chains()[1][0])


def test_rewinding_the_head_too_is_caught_by_a_signed_checkpoint(chain, org):
    assert write_audit_checkpoints() >= 1
    _raw("DELETE FROM accounts_auditevent WHERE id = %s", [chain[2].pk])
    _raw(
        "UPDATE accounts_audithead SET last_seq = 2, last_hash = %s, count = 2 WHERE chain = %s",
        [chain[1].hash, chain_key(org.pk)],
    )
    [brk] = verify_chains()[1]
    assert "signed checkpoint #3" in str(brk)


def test_a_forged_checkpoint_is_refused(chain, org):
    write_checkpoints()
    _raw("UPDATE accounts_auditcheckpoint SET seq = 2, hash = %s WHERE chain = %s", [chain[1].hash, chain_key(org.pk)])
    assert "invalid signature" in str(verify_chains()[1][0])


def test_checkpoints_are_idempotent_and_cover_the_platform_chain(chain, org):
    with transaction.atomic():
        record_event(org=None, action=AuditAction.AUTH_LOGIN_FAILED, details={"email": "x@example.com"})
    first = write_checkpoints()
    assert first == 2 and write_checkpoints() == 0
    assert set(AuditCheckpoint.objects.values_list("chain", flat=True)) == {"platform", chain_key(org.pk)}
    _raw("DELETE FROM accounts_auditevent WHERE org_id IS NULL", [])
    assert any("(none)" in str(b) for b in verify_chains()[1])


def test_deleting_the_head_is_detected(chain, org):
    _raw("DELETE FROM accounts_audithead WHERE chain = %s", [chain_key(org.pk)])
    assert "no head record" in str(verify_chains()[1][0])


def test_database_keeps_heads_forward_and_checkpoints_append_only_on_postgresql(chain, org):
    if connection.vendor != "postgresql":
        pytest.skip("the database-level triggers exist on PostgreSQL only")
    write_checkpoints()
    for sql in (
        "UPDATE accounts_audithead SET last_seq = 1 WHERE chain = %s",
        "DELETE FROM accounts_audithead WHERE chain = %s",
        "DELETE FROM accounts_auditcheckpoint WHERE chain = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [chain_key(org.pk)])
    assert verify_chains()[1] == []


def test_checkpoints_are_scheduled(settings):
    assert settings.CELERY_BEAT_SCHEDULE["audit-checkpoints"]["task"] == "accounts.tasks.write_audit_checkpoints"
