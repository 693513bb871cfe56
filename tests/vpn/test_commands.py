"""`manage.py rotate_vpn_keys`: the VPNs' pre-shared keys follow a key-ring rotation like connection secrets."""

from __future__ import annotations

import base64
import os

import pytest
from django.core.management import call_command

from accounts.models import AuditEvent
from core import crypto
from tests.vpn.conftest import MOTO_PSK
from vpn import services
from vpn.provisioning import load_psks

pytestmark = pytest.mark.django_db


def _key(kid: str) -> str:
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


def test_rotate_vpn_keys(vpn_settings, settings, vpn, members, capsys):
    ring_a = _key("a")
    settings.CONNECTIONS_KEYS = ring_a
    services.do_request_provision(vpn, actor=members["admin"])
    vpn.refresh_from_db()
    assert vpn.psk_key_id == "a"
    ring_b = _key("b")
    settings.CONNECTIONS_KEYS = f"{ring_b},{ring_a}"
    call_command("rotate_vpn_keys", "--check")
    assert "a: 1 (in ring)" in capsys.readouterr().out
    call_command("rotate_vpn_keys")
    out = capsys.readouterr().out
    assert "Re-wrapped the keys of 1 VPN(s) to key 'b'" in out and "b: 1 (primary)" in out
    call_command("rotate_vpn_keys")
    assert "Re-wrapped the keys of 0 VPN(s)" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="vpn.key_rewrapped").count() == 1
    settings.CONNECTIONS_KEYS = ring_b  # the old key can now leave the ring
    vpn.refresh_from_db()
    assert crypto.envelope_kid(vpn.psk_envelope) == "b"
    assert load_psks(vpn) == [MOTO_PSK, MOTO_PSK]
