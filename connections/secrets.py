"""A connection's secret payload: how it is bound, encrypted, fingerprinted and read back.

The write path (create, rotate, re-wrap in `services`) and the read path (`runtime.use_credentials`)
both come here, so neither has to reach into the other. Decrypted values leave this module only
through `use_credentials`, which audits the read and registers the values with the log masker; no
page, serializer or admin screen calls `load_secrets`.
"""

from __future__ import annotations

import re
from typing import Any

from core import crypto

from .models import Connection

__all__ = [
    "DestinationChanged",
    "check_destination",
    "destination_fingerprint",
    "drop_placeholders",
    "is_placeholder",
    "load_secrets",
    "secret_context",
    "store_secrets",
]


class DestinationChanged(Exception):
    """Where the secret would be sent is not where it was when the secret was entered: it is not released."""

    code = "destination_changed"

# A value a form or client sends back to mean "unchanged": never stored as a secret.
_PLACEHOLDER = re.compile(r"^\s*(?:\*+|•+|x{3,}|\[(?:masked|redacted|hidden)\]|<(?:masked|redacted|hidden)>)\s*$", re.I)


def is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and bool(_PLACEHOLDER.match(value))


def drop_placeholders(secrets: dict[str, Any] | None) -> dict[str, Any]:
    """The secret values actually sent: placeholders (`***`, `[masked]`) and blanks mean "keep"."""
    return {k: v for k, v in (secrets or {}).items() if not is_placeholder(v) and v not in (None, "")}


def secret_context(connection: Connection, field: str = "secrets") -> crypto.SecretContext:
    """What a connection's ciphertext is bound to: copying it to another row or org fails to decrypt."""
    return crypto.SecretContext(
        org=str(connection.org_id), model="connections.connection", row=str(connection.pk), field=field
    )


def store_secrets(connection: Connection, values: dict[str, Any]) -> None:
    """Encrypt the secret payload onto the (unsaved or locked) row, with fingerprints of each field."""
    ring = crypto.KeyRing.from_settings()
    if values:
        connection.secrets_envelope = crypto.encrypt_json(values, context=secret_context(connection), ring=ring)
        connection.secrets_key_id = ring.primary.kid
    else:
        connection.secrets_envelope, connection.secrets_key_id = "", ""
    connection.secret_fingerprints = {
        name: crypto.fingerprint(str(value), ring=ring) for name, value in sorted(values.items())
    }
    connection.secrets_version += 1
    connection.secrets_destination = destination_fingerprint(connection) if values else ""


def destination_fingerprint(connection: Connection) -> str:
    """A hash of the public fields that decide where the secret goes (`Provider.destination_fields`), bound
    to the secret when it is entered; "" when the auth method has no such field."""
    return connection.provider_spec.destination_fingerprint(connection.auth_method, connection.config)


def check_destination(connection: Connection) -> None:
    """Refuse to release a secret whose destination moved since it was entered (any path: API, admin, SQL)."""
    if connection.secrets_envelope and connection.secrets_destination != destination_fingerprint(connection):
        labels = {f.name: f.label for f in connection.provider_spec.fields}
        fields = ", ".join(labels.get(n, n) for n in connection.provider_spec.destinations(connection.auth_method))
        raise DestinationChanged(
            f"The connection's {fields} changed since its credentials were entered, so they are not sent there: "
            "enter the credentials again (rotate) to confirm the new destination."
        )


def load_secrets(connection: Connection) -> dict[str, Any]:
    """Decrypt a connection's payload. Callers outside this package go through `use_credentials`."""
    if not connection.secrets_envelope:
        return {}
    return crypto.decrypt_json(connection.secrets_envelope, context=secret_context(connection))
