"""rotate_oidc_signing_key (identity/management/commands/): rotate the signing key, or re-wrap the private keys
to the key ring's new primary."""

from __future__ import annotations

import jwt
import pytest
from django.core.management import call_command

from accounts.models import AuditEvent
from core import crypto
from identity import keys
from identity.keys import get_active_key, sign_assertion
from tests.identity.conftest import AUDIENCE, SUBJECT

pytestmark = pytest.mark.django_db


def test_rotate_command(capsys) -> None:
    old = get_active_key()

    call_command("rotate_oidc_signing_key")

    new = get_active_key()
    assert new.kid != old.kid and new.kid in capsys.readouterr().out


def test_rewrap_moves_private_keys_to_the_new_primary(settings) -> None:
    new_entry = crypto.generate_key_ring_entry("oidc-new")
    key = get_active_key()
    old_kek = crypto.envelope_kid(key.private_key_envelope)
    settings.CONNECTIONS_KEYS = f"{new_entry},{settings.CONNECTIONS_KEYS}"

    call_command("rotate_oidc_signing_key", "--rewrap")
    call_command("rotate_oidc_signing_key", "--rewrap")  # idempotent

    key.refresh_from_db()
    assert crypto.envelope_kid(key.private_key_envelope) == "oidc-new" != old_kek
    assert get_active_key().kid == key.kid  # re-wrapping does not rotate the signing key
    assert AuditEvent.objects.filter(action=keys.AuditAction.OIDC_KEY_REWRAPPED).count() == 1
    keys.clear_key_cache()
    settings.CONNECTIONS_KEYS = new_entry  # the old KEK is gone: signing must still work
    assert jwt.get_unverified_header(sign_assertion(audience=AUDIENCE, subject=SUBJECT))["kid"] == key.kid
