"""A connection's secret payload (connections/secrets.py): the ciphertext is bound to its connection."""

from __future__ import annotations

import pytest
from django.db import connection as db_connection

from connections.runtime import (
    use_credentials,
)
from core import crypto

pytestmark = pytest.mark.django_db


def test_tampered_or_copied_ciphertext_fails_loudly(org, members, make_connection):
    a = make_connection(org, "github", name="gh-a", environments=("development",))
    b = make_connection(org, "gitlab", name="gl-b", environments=("development",))
    with db_connection.cursor() as cursor:
        cursor.execute(
            "UPDATE connections_connection SET secrets_envelope = %s WHERE id = %s",
            [a.secrets_envelope, b.pk.hex if db_connection.vendor == "sqlite" else b.pk],
        )
    b.refresh_from_db()
    with pytest.raises(crypto.DecryptionError) as exc:
        with use_credentials(b, actor=members["admin"], environment="development"):
            pass
    assert "could not be decrypted" in str(exc.value)
