"""Key re-wrap while an admin rotates the same connection's credentials (issue 13, deliverable 4).

The re-wrap batch and the rotation both lock the connection's row (`select_for_update`; on SQLite the
IMMEDIATE transaction serializes writers), so whichever comes second re-reads what the first committed:
the new secret is never lost and an envelope is never wrapped twice. Both orders are forced with two real
database connections (threads) and a pause point inside the first transaction.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

from connections import services
from connections.models import Connection
from connections.runtime import use_credentials
from core import crypto

pytestmark = pytest.mark.django_db(transaction=True)

NEW_TOKEN = "github_pat_11ZYXWVUT9876543210_" + "klmnopqrst" * 6


def _key(kid: str) -> str:
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


def _in_thread(target: Any, results: dict[str, Any]) -> threading.Thread:
    def body() -> None:
        try:
            results["value"] = target()
        except BaseException as exc:  # reported to the test thread
            results["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def _second_waits_for_first(
    monkeypatch: Any, pause_in: str, first: Callable[[], Any], second: Callable[[], Any]
) -> tuple[Any, Any]:
    """Run `first` in a thread, paused inside `core.crypto.<pause_in>` (the real function, called late) while it
    holds the row; start `second`, check that it waits for the lock, let `first` finish; both results."""
    locked, release = threading.Event(), threading.Event()
    real = getattr(crypto, pause_in)

    def pausing(*args: Any, **kwargs: Any) -> Any:
        locked.set()
        assert release.wait(timeout=30)
        return real(*args, **kwargs)

    monkeypatch.setattr(crypto, pause_in, pausing)
    first_results: dict[str, Any] = {}
    second_results: dict[str, Any] = {}
    first_thread = _in_thread(first, first_results)
    assert locked.wait(timeout=30)
    second_thread = _in_thread(second, second_results)
    time.sleep(0.5)
    assert second_thread.is_alive(), "the second transaction did not wait for the first one's lock"
    release.set()
    first_thread.join(timeout=30)
    second_thread.join(timeout=30)
    assert "error" not in first_results and "error" not in second_results, (first_results, second_results)
    return first_results["value"], second_results["value"]


def _stored_token(conn: Connection, actor: Any) -> str:
    with use_credentials(Connection.objects.get(pk=conn.pk), actor=actor, environment="development") as creds:
        return creds.secrets["token"]


@pytest.fixture
def rings(settings) -> tuple[str, str]:
    old = _key("a")
    settings.CONNECTIONS_KEYS = old
    return old, _key("b")


def test_rotation_first_then_rewrap_skips_the_fresh_envelope(
    rings, settings, org, members, make_connection, monkeypatch
):
    old, new = rings
    conn = make_connection(org, "github", environments=("development",), auth_method="pat")
    settings.CONNECTIONS_KEYS = f"{new},{old}"  # b is primary: both the rotation and the re-wrap use it
    ring = crypto.KeyRing.from_settings()

    _, rewrap = _second_waits_for_first(
        monkeypatch,
        "encrypt_json",  # the rotation writes its new envelope while holding the row
        lambda: services.do_rotate_credentials(conn, actor=members["admin"], secrets={"token": NEW_TOKEN}),
        lambda: services.do_rewrap_connection_secrets([conn.pk], ring=ring),
    )

    assert rewrap.rewrapped == 0  # the rotation already wrote it under b: not wrapped twice
    stored = Connection.objects.get(pk=conn.pk)
    assert crypto.envelope_kid(stored.secrets_envelope) == "b" and stored.secrets_key_id == "b"
    settings.CONNECTIONS_KEYS = new  # the old key can leave the ring: nothing still needs it
    assert _stored_token(conn, members["admin"]) == NEW_TOKEN


def test_rewrap_first_then_rotation_keeps_the_new_secret(rings, settings, org, members, make_connection, monkeypatch):
    old, new = rings
    conn = make_connection(org, "github", environments=("development",), auth_method="pat")
    settings.CONNECTIONS_KEYS = f"{new},{old}"
    ring = crypto.KeyRing.from_settings()

    rewrap, _ = _second_waits_for_first(
        monkeypatch,
        "rewrap",  # the batch re-encrypts while holding its rows' locks
        lambda: services.do_rewrap_connection_secrets([conn.pk], ring=ring),
        lambda: services.do_rotate_credentials(conn, actor=members["admin"], secrets={"token": NEW_TOKEN}),
    )

    assert rewrap.rewrapped == 1
    stored = Connection.objects.get(pk=conn.pk)
    assert crypto.envelope_kid(stored.secrets_envelope) == "b"
    settings.CONNECTIONS_KEYS = new
    assert _stored_token(conn, members["admin"]) == NEW_TOKEN  # the rotation read the re-wrapped row: not lost
