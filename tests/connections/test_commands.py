"""Management commands of connections (connections/management/commands/): rotate_connection_keys re-wraps
every payload to the primary key of the key ring, resumably."""

from __future__ import annotations

import base64
import os

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent
from connections.models import Connection
from connections.runtime import use_credentials
from core import crypto
from tests.connections.provider_examples import valid_examples

pytestmark = pytest.mark.django_db


def _key(kid: str) -> str:
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


@pytest.fixture
def ring_a(settings):
    entry = _key("a")
    settings.CONNECTIONS_KEYS = entry
    return entry


def test_rotation_with_two_key_rings(ring_a, settings, org, members, make_connection, capsys):
    conns = [make_connection(org, p, environments=("development",)) for p in ("github", "gitlab", "dockerhub")]
    assert {c.secrets_key_id for c in conns} == {"a"}
    ring_b = _key("b")
    settings.CONNECTIONS_KEYS = f"{ring_b},{ring_a}"

    call_command("rotate_connection_keys", "--check")
    assert "a: 3 (in ring)" in capsys.readouterr().out

    call_command("rotate_connection_keys", "--batch-size", "2")
    out = capsys.readouterr().out
    assert "Re-wrapped 3 secret payload(s) to key 'b'" in out and "b: 3 (primary)" in out
    events = AuditEvent.objects.filter(action="connection.key_rewrapped").order_by("seq")
    assert events.count() == 2  # one per organization and batch of 2
    assert sorted(pk for e in events for pk in e.details["connection_ids"]) == sorted(str(c.pk) for c in conns)
    assert all(e.details["old_key_ids"] == ["a"] and e.details["new_key_id"] == "b" for e in events)

    call_command("rotate_connection_keys")  # safe to run twice: nothing left to do
    assert "Re-wrapped 0" in capsys.readouterr().out

    settings.CONNECTIONS_KEYS = ring_b  # the old key can now leave the ring
    expected = valid_examples()["github"]["oauth"][1]["token"]
    for conn in Connection.objects.all():
        assert crypto.envelope_kid(conn.secrets_envelope) == "b"
        with use_credentials(conn, actor=members["admin"], environment="development") as creds:
            if conn.provider == "github":
                assert creds.secrets["token"] == expected


def test_missing_key_is_reported_and_fails(ring_a, settings, org, make_connection, capsys):
    make_connection(org, "github")
    settings.CONNECTIONS_KEYS = _key("c")
    call_command("rotate_connection_keys", "--check")
    assert "a: 1 (NOT IN RING)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="could not be re-wrapped"):
        call_command("rotate_connection_keys")
    assert "not in CONNECTIONS_KEYS" in capsys.readouterr().err


def test_a_row_that_cannot_be_rewrapped_does_not_stop_its_batch(ring_a, settings, org, make_connection, capsys):
    ring_c = _key("c")
    settings.CONNECTIONS_KEYS = ring_c
    lost = make_connection(org, "github", name="gh-lost")  # wrapped by c, which then leaves the ring
    settings.CONNECTIONS_KEYS = ring_a
    kept = [make_connection(org, p) for p in ("gitlab", "dockerhub")]
    settings.CONNECTIONS_KEYS = f"{_key('b')},{ring_a}"
    with pytest.raises(CommandError, match="1 payload"):
        call_command("rotate_connection_keys", "--batch-size", "10")
    err = capsys.readouterr().err
    assert f"Connection {lost.pk}: " in err and "not in CONNECTIONS_KEYS" in err
    assert {Connection.objects.get(pk=c.pk).secrets_key_id for c in kept} == {"b"}
    assert Connection.objects.get(pk=lost.pk).secrets_key_id == "c"
    event = AuditEvent.objects.get(action="connection.key_rewrapped")
    assert sorted(event.details["connection_ids"]) == sorted(str(c.pk) for c in kept)


def test_bad_key_ring_is_one_readable_line(settings):
    settings.CONNECTIONS_KEYS = "broken"
    with pytest.raises(CommandError) as exc:
        call_command("rotate_connection_keys", "--check")
    assert "\n" not in str(exc.value)
