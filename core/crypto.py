"""Envelope encryption for secret payloads (cloud credentials) stored in the database.

Why envelope encryption: every payload gets its own random 256-bit data key, so a key-encryption key (KEK)
only ever protects 32-byte data keys. That keeps KEK usage tiny, lets the KEK live in AWS KMS (one API call
per value, never the payload itself), and makes key rotation a matter of re-wrapping rather than of trusting
one long-lived key with every ciphertext.

Key ring
    ``CONNECTIONS_KEYS = "kid:base64key,kid2:base64key2,kid3:kms:<KMS key id, ARN or alias>"``.
    The FIRST entry is the primary and is used for every new encryption; the others are kept only so that
    values written under them can still be decrypted (and re-wrapped) during a rotation. A key id is
    ``[A-Za-z0-9_-]{1,32}``; a local key is 32 random bytes in standard or urlsafe base64 (padding optional).

Envelope format (one ASCII string, safe for a TextField)::

    v1:<kid>:<wrapped data key>:<nonce>:<ciphertext>

    * ``v1``          format version.
    * ``kid``         id of the KEK that wrapped the data key (readable without decrypting, see envelope_kid).
    * wrapped key     for a local KEK: 12-byte nonce || AES-256-GCM(data key) (48 bytes, 60 bytes in total);
                      for a KMS KEK: the KMS ``CiphertextBlob``.
    * nonce           12 random bytes used for the payload.
    * ciphertext      AES-256-GCM(payload) under the data key, including the 16-byte tag.

    The three binary parts are urlsafe base64 without padding and are decoded strictly (a non-canonical
    encoding is rejected), so changing ANY character of an envelope makes decryption fail.

Associated data
    Both the payload encryption and the data-key wrap authenticate the canonical JSON (sorted keys, no
    whitespace) of ``{"field", "kid", "model", "org", "row", "v"}``. Copying an envelope to another org,
    model, row or field, or relabelling it with another kid, therefore fails loudly instead of yielding a
    secret in the wrong place. For a KMS KEK the same mapping is the KMS ``EncryptionContext`` (it shows up in
    CloudTrail, which is why it only holds identifiers, never secret material).

Rotation
    ``rewrap`` decrypts with the old data key and re-encrypts the payload under a NEW data key wrapped by the
    primary. Keeping the old payload ciphertext was rejected because its associated data names the old kid;
    a fresh encryption keeps the rule "the AAD names the kid that wrapped the data key" without exceptions.
    An envelope already wrapped by the primary is returned unchanged (``needs_rewrap`` is False for it).

Failures
    Every failure raises a ``CryptoError`` subclass whose message names model, row and field and never
    contains plaintext, key bytes or any part of the stored value (a malformed value might be a secret that
    was stored unencrypted by mistake).

Only ``KeyRing.from_settings()`` touches Django (lazily); boto3 is imported only when a KMS key is used.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "FORMAT_VERSION",
    "CryptoError",
    "DecryptionError",
    "EncryptionError",
    "KeyEncryptionKey",
    "KeyRing",
    "KeyRingError",
    "KmsKey",
    "LocalKey",
    "SecretContext",
    "TamperedError",
    "decrypt",
    "decrypt_json",
    "encrypt",
    "encrypt_json",
    "envelope_kid",
    "fingerprint",
    "generate_key_ring_entry",
    "needs_rewrap",
    "rewrap",
]

FORMAT_VERSION = "v1"
KEY_BYTES = 32  # AES-256 for both KEKs and data keys.
NONCE_BYTES = 12  # The GCM standard nonce size; random nonces are safe because every data key is used once.
TAG_BYTES = 16
_KID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")
_FINGERPRINT_INFO = b"cloudconnections/crypto/fingerprint/v1"
_FINGERPRINT_HEX = 12


# --------------------------------------------------------------------------------------------------- errors


class CryptoError(Exception):
    """Base class so callers can catch every failure of this module with one ``except``."""


class KeyRingError(CryptoError):
    """CONNECTIONS_KEYS (or a key ring built by hand) is unusable; the message never contains key material."""


class EncryptionError(CryptoError):
    """A value could not be encrypted (in practice: KMS refused or was unreachable)."""


class DecryptionError(CryptoError):
    """A stored value could not be decrypted; nothing partially decrypted is ever returned."""


class TamperedError(DecryptionError):
    """The value failed authentication: it was modified, or it was copied from another record/field.

    A separate subclass lets a rotation command tell "this row is corrupt" apart from "KMS is down".
    """


# -------------------------------------------------------------------------------------------------- context


@dataclass(frozen=True, slots=True)
class SecretContext:
    """Where a secret lives; bound into the associated data so a ciphertext only decrypts in its own place.

    All fields must be non-empty strings: silently accepting ``None`` (e.g. a primary key not assigned yet)
    would bind the ciphertext to the string "None" and make it undecryptable once the row is saved.
    """

    org: str
    model: str
    row: str
    field: str

    def __post_init__(self) -> None:
        for name in ("org", "model", "row", "field"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"SecretContext.{name} must be a non-empty string, got {type(value).__name__}")

    @property
    def label(self) -> str:
        """Human-readable location used in error messages, e.g. ``connections.connection 3f2a…/secrets``."""
        return f"{self.model} {self.row}/{self.field}"

    def associated_data(self, kid: str) -> dict[str, str]:
        """The mapping authenticated by both the payload encryption and the key wrap (KMS EncryptionContext)."""
        return {
            "v": FORMAT_VERSION,
            "org": self.org,
            "model": self.model,
            "row": self.row,
            "field": self.field,
            "kid": kid,
        }


def _canonical_json(data: dict[str, Any]) -> bytes:
    """Deterministic JSON so the same mapping always yields the same bytes (required for AAD)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


# ------------------------------------------------------------------------------------ key-encryption keys


class KeyEncryptionKey(ABC):
    """A key that wraps (encrypts) and unwraps per-payload data keys.

    ``wrap``/``unwrap`` must authenticate ``context``: unwrapping with a different context has to fail.
    Implementations raise ``TamperedError`` when the wrapped key does not authenticate and another
    ``DecryptionError``/``EncryptionError`` for operational failures; the envelope layer adds the record name.
    """

    kid: str

    @abstractmethod
    def wrap(self, data_key: bytes, context: dict[str, str]) -> bytes:
        """Encrypt ``data_key`` bound to ``context``."""

    @abstractmethod
    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        """Decrypt a wrapped data key; fails unless ``context`` equals the one used to wrap."""

    @abstractmethod
    def fingerprint_key(self) -> bytes:
        """A 32-byte key for ``fingerprint``; derived so the KEK itself is never used for a second purpose."""

    def __repr__(self) -> str:
        # Never show key material, even in debug pages or logs.
        return f"<{type(self).__name__} kid={self.kid!r}>"


class LocalKey(KeyEncryptionKey):
    """A 256-bit KEK held in the process (from CONNECTIONS_KEYS), wrapping with AES-256-GCM."""

    __slots__ = ("_aead", "_key", "kid")

    def __init__(self, kid: str, key: bytes) -> None:
        _check_kid(kid)
        if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
            raise KeyRingError(f"Key '{kid}' must be exactly {KEY_BYTES} bytes (AES-256).")
        self.kid = kid
        self._key = bytes(key)
        self._aead = AESGCM(self._key)

    def wrap(self, data_key: bytes, context: dict[str, str]) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, _canonical_json(context))

    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        if len(wrapped) < NONCE_BYTES + TAG_BYTES:
            raise TamperedError(f"The data key wrapped by key '{self.kid}' is truncated.")
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _canonical_json(context))
        except InvalidTag:
            raise TamperedError(f"The data key wrapped by key '{self.kid}' did not authenticate.") from None

    def fingerprint_key(self) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_FINGERPRINT_INFO).derive(self._key)


class KmsKey(KeyEncryptionKey):
    """A KEK that lives in AWS KMS; data keys are wrapped with ``Encrypt``/``Decrypt`` and never leave as-is.

    The boto3 client is created on first use (so importing settings never needs AWS) and then reused for the
    life of this object, which ``KeyRing.from_settings`` caches. boto3 itself honours ``AWS_ENDPOINT_URL``;
    the region comes from ``AWS_REGION``/``AWS_DEFAULT_REGION`` (default ``us-east-1``).
    """

    def __init__(self, kid: str, key_id: str, *, client: Any = None) -> None:
        _check_kid(kid)
        if not key_id or any(ch.isspace() for ch in key_id):
            raise KeyRingError(f"Key '{kid}' needs a KMS key id, ARN or alias after 'kms:' without spaces.")
        self.kid = kid
        self.key_id = key_id
        self._client = client
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<KmsKey kid={self.kid!r} key_id={self.key_id!r}>"

    @property
    def client(self) -> Any:
        """The lazily created KMS client (boto3 clients are thread-safe, so one is shared)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3  # late import: the module must load without AWS libraries (tested)

                    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
                    self._client = boto3.session.Session().client("kms", region_name=region)
        return self._client

    def wrap(self, data_key: bytes, context: dict[str, str]) -> bytes:
        try:
            response = self.client.encrypt(KeyId=self.key_id, Plaintext=data_key, EncryptionContext=context)
        except Exception as exc:  # botocore raises many unrelated types; all mean "could not wrap".
            raise EncryptionError(
                f"AWS KMS key '{self.kid}' could not wrap the data key ({_kms_error(exc)})."
            ) from None
        return response["CiphertextBlob"]

    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        try:
            response = self.client.decrypt(CiphertextBlob=wrapped, KeyId=self.key_id, EncryptionContext=context)
        except Exception as exc:
            code = _kms_error_code(exc)
            if code == "InvalidCiphertextException":
                raise TamperedError(f"AWS KMS key '{self.kid}' rejected the wrapped data key.") from None
            raise DecryptionError(
                f"AWS KMS key '{self.kid}' could not unwrap the data key ({_kms_error(exc)})."
            ) from None
        return response["Plaintext"]

    def fingerprint_key(self) -> bytes:
        # KMS keys cannot be exported, so the derivation input is public (kid and key id): this only
        # separates fingerprints between rings. Prefer a local primary when fingerprints must resist guessing.
        material = f"kms:{self.kid}:{self.key_id}".encode()
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_FINGERPRINT_INFO).derive(material)


def _kms_error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
    return type(exc).__name__


def _kms_error(exc: Exception) -> str:
    """Error code plus AWS's message; KMS messages describe keys and permissions, never the plaintext."""
    response = getattr(exc, "response", None)
    message = str(response.get("Error", {}).get("Message", "")) if isinstance(response, dict) else str(exc)
    message = " ".join(message.split())[:300]
    code = _kms_error_code(exc)
    return f"{code}: {message}" if message else code


# ------------------------------------------------------------------------------------------------- key ring


def _check_kid(kid: str) -> None:
    if not isinstance(kid, str) or not _KID_RE.fullmatch(kid):
        # The offending text is not echoed: a mangled entry may have its key where the kid should be.
        raise KeyRingError("A key id must be 1 to 32 characters of A-Z, a-z, 0-9, '_' or '-'.")


def _decode_key(kid: str, text: str) -> bytes:
    """Accept standard or urlsafe base64, padded or not, and insist on exactly 32 bytes."""
    normalized = text.replace("-", "+").replace("_", "/")
    normalized += "=" * (-len(normalized) % 4)
    try:
        key = base64.b64decode(normalized, validate=True)
    except (binascii.Error, ValueError):
        raise KeyRingError(f"Key '{kid}' in CONNECTIONS_KEYS is not valid base64.") from None
    if len(key) != KEY_BYTES:
        raise KeyRingError(
            f"Key '{kid}' in CONNECTIONS_KEYS decodes to {len(key)} bytes but must be {KEY_BYTES} (AES-256)."
        )
    return key


class KeyRing:
    """The ordered set of KEKs: ``primary`` encrypts, every key (primary included) can decrypt."""

    def __init__(self, keys: Iterable[KeyEncryptionKey]) -> None:
        self._keys: dict[str, KeyEncryptionKey] = {}
        for key in keys:
            if key.kid in self._keys:
                raise KeyRingError(f"Key id '{key.kid}' appears more than once in CONNECTIONS_KEYS.")
            self._keys[key.kid] = key
        if not self._keys:
            raise KeyRingError("CONNECTIONS_KEYS is empty; it needs at least one 'kid:base64key' entry.")
        self._primary = next(iter(self._keys.values()))

    @classmethod
    def parse(cls, value: str) -> KeyRing:
        """Build a ring from ``kid:base64key,kid2:kms:<key id>,...`` (whitespace around entries is ignored)."""
        if not isinstance(value, str):
            raise KeyRingError(f"CONNECTIONS_KEYS must be a string, not {type(value).__name__}.")
        if not value.strip():
            raise KeyRingError("CONNECTIONS_KEYS is empty; it needs at least one 'kid:base64key' entry.")
        keys: list[KeyEncryptionKey] = []
        for position, raw in enumerate(value.split(","), start=1):
            entry = raw.strip()
            if not entry:
                raise KeyRingError(f"Entry {position} of CONNECTIONS_KEYS is empty (check for a stray comma).")
            kid, sep, rest = entry.partition(":")
            if not sep or not rest:
                raise KeyRingError(f"Entry {position} of CONNECTIONS_KEYS is not of the form 'kid:base64key'.")
            if not _KID_RE.fullmatch(kid):
                raise KeyRingError(
                    f"Entry {position} of CONNECTIONS_KEYS has an invalid key id: "
                    "it must be 1 to 32 characters of A-Z, a-z, 0-9, '_' or '-'."
                )
            if rest.startswith("kms:"):
                keys.append(KmsKey(kid, rest[len("kms:") :].strip()))
            else:
                keys.append(LocalKey(kid, _decode_key(kid, rest)))
        return cls(keys)

    @classmethod
    def from_settings(cls) -> KeyRing:
        """The ring described by ``settings.CONNECTIONS_KEYS``, cached per settings string.

        Caching keeps decrypting a page of rows cheap and lets KMS keys reuse their boto3 client; keying the
        cache by the string means ``override_settings`` in tests (or a reload) picks up a new ring.
        """
        from django.conf import settings  # late import: the module must load without Django (tested)

        value = getattr(settings, "CONNECTIONS_KEYS", None)  # not a default: None raises KeyRingError
        if value is None:
            raise KeyRingError("CONNECTIONS_KEYS is not set in the Django settings.")
        return _parse_cached(value)

    @staticmethod
    def clear_cache() -> None:
        """Forget cached rings (tests that mutate settings in place without changing the string)."""
        _parse_cached.cache_clear()

    @property
    def primary(self) -> KeyEncryptionKey:
        """The key used for every new encryption: the first entry of CONNECTIONS_KEYS."""
        return self._primary

    @property
    def kids(self) -> tuple[str, ...]:
        """Key ids in ring order, primary first."""
        return tuple(self._keys)

    def get(self, kid: str) -> KeyEncryptionKey | None:
        """The key with this id, or None when the ring does not (or no longer) contain it."""
        return self._keys.get(kid)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __iter__(self) -> Iterator[KeyEncryptionKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"<KeyRing primary={self._primary.kid!r} kids={list(self._keys)!r}>"


@functools.lru_cache(maxsize=8)
def _parse_cached(value: str) -> KeyRing:
    return KeyRing.parse(value)


def generate_key_ring_entry(kid: str) -> str:
    """A fresh ``kid:<base64 of 32 random bytes>`` entry, e.g. for a development ring or a rotation."""
    _check_kid(kid)
    return f"{kid}:{base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode('ascii')}"


def _ring(ring: KeyRing | None) -> KeyRing:
    return ring if ring is not None else KeyRing.from_settings()


# ------------------------------------------------------------------------------------------------- envelope


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    """Strict urlsafe base64: rejects anything that would not re-encode to exactly ``text``.

    Without the round-trip check, the unused low bits of the last character could be changed without
    changing the decoded bytes, i.e. a modified envelope would still decrypt.
    """
    if not _B64URL_RE.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not canonical base64")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64e(data) != text:
        raise ValueError("not canonical base64")
    return data


@dataclass(frozen=True, slots=True)
class _Parts:
    kid: str
    wrapped: bytes
    nonce: bytes
    ciphertext: bytes


def _parse(envelope: str, context: SecretContext | None) -> _Parts:
    where = f"Encrypted value of {context.label}" if context else "Encrypted value"
    malformed = f"{where} could not be decrypted: it is not a well-formed {FORMAT_VERSION} envelope"
    if not isinstance(envelope, str):
        raise DecryptionError(f"{malformed} (expected a string, got {type(envelope).__name__}).")
    parts = envelope.split(":")
    if len(parts) != 5 or parts[0] != FORMAT_VERSION or not _KID_RE.fullmatch(parts[1]):
        raise DecryptionError(f"{malformed}.")
    try:
        wrapped, nonce, ciphertext = (_b64d(part) for part in parts[2:])
    except ValueError:
        raise DecryptionError(f"{malformed}.") from None
    if not wrapped or len(nonce) != NONCE_BYTES or len(ciphertext) < TAG_BYTES:
        raise DecryptionError(f"{malformed}.")
    return _Parts(parts[1], wrapped, nonce, ciphertext)


def envelope_kid(envelope: str) -> str:
    """The id of the key that wrapped this envelope's data key, read without decrypting anything."""
    return _parse(envelope, None).kid


def needs_rewrap(envelope: str, ring: KeyRing | None = None) -> bool:
    """True when the envelope is not wrapped by the ring's primary key, i.e. a rotation must rewrap it."""
    return envelope_kid(envelope) != _ring(ring).primary.kid


def _to_bytes(plaintext: bytes | dict) -> bytes:
    if isinstance(plaintext, dict):
        return json.dumps(plaintext, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if isinstance(plaintext, bytes | bytearray | memoryview):
        return bytes(plaintext)
    raise TypeError(f"encrypt() takes bytes or a dict, not {type(plaintext).__name__}")


def encrypt(plaintext: bytes | dict, *, context: SecretContext, ring: KeyRing | None = None) -> str:
    """Encrypt ``plaintext`` (a dict is stored as JSON) for the record/field named by ``context``."""
    if not isinstance(context, SecretContext):
        raise TypeError("encrypt() needs a SecretContext")
    data = _to_bytes(plaintext)
    kek = _ring(ring).primary
    associated = context.associated_data(kek.kid)
    data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    try:
        wrapped = kek.wrap(data_key, associated)
    except CryptoError as exc:
        raise EncryptionError(f"Value of {context.label} could not be encrypted: {exc}") from None
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, data, _canonical_json(associated))
    return ":".join((FORMAT_VERSION, kek.kid, _b64e(wrapped), _b64e(nonce), _b64e(ciphertext)))


def encrypt_json(value: dict, *, context: SecretContext, ring: KeyRing | None = None) -> str:
    """Encrypt a JSON object (the usual shape of a credentials payload)."""
    if not isinstance(value, dict):
        raise TypeError(f"encrypt_json() takes a dict, not {type(value).__name__}")
    return encrypt(value, context=context, ring=ring)


def decrypt(envelope: str, *, context: SecretContext, ring: KeyRing | None = None) -> bytes:
    """Decrypt an envelope written for exactly this ``context``; raises ``DecryptionError`` on any mismatch."""
    if not isinstance(context, SecretContext):
        raise TypeError("decrypt() needs a SecretContext")
    parts = _parse(envelope, context)
    prefix = f"Encrypted value of {context.label} could not be decrypted"
    kek = _ring(ring).get(parts.kid)
    if kek is None:
        raise DecryptionError(f"{prefix}: it was encrypted with key '{parts.kid}' which is not in CONNECTIONS_KEYS.")
    associated = context.associated_data(parts.kid)
    tampered = f"{prefix}: it was modified or belongs to another record."
    try:
        data_key = kek.unwrap(parts.wrapped, associated)
    except TamperedError:
        raise TamperedError(tampered) from None
    except CryptoError as exc:
        raise DecryptionError(f"{prefix}: {exc}") from None
    if len(data_key) != KEY_BYTES:
        raise TamperedError(tampered)
    try:
        return AESGCM(data_key).decrypt(parts.nonce, parts.ciphertext, _canonical_json(associated))
    except InvalidTag:
        raise TamperedError(tampered) from None


def decrypt_json(envelope: str, *, context: SecretContext, ring: KeyRing | None = None) -> dict:
    """Decrypt an envelope holding a JSON object (see ``encrypt_json``)."""
    data = decrypt(envelope, context=context, ring=ring)
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        value = None
    if not isinstance(value, dict):
        # Authentic but not an object: report the shape only, the bytes may be a secret.
        raise DecryptionError(f"Encrypted value of {context.label} does not contain a JSON object.")
    return value


def rewrap(envelope: str, *, context: SecretContext, ring: KeyRing | None = None) -> str:
    """Return the envelope re-encrypted under the primary key, or unchanged if it already uses it.

    The payload is decrypted and encrypted again under a new data key (see the module docstring), so the
    result is authenticated exactly like a fresh ``encrypt``. Callers compare the result with the input (or
    use ``needs_rewrap``) to decide whether the row must be saved.
    """
    ring = _ring(ring)
    if _parse(envelope, context).kid == ring.primary.kid:
        return envelope
    return encrypt(decrypt(envelope, context=context, ring=ring), context=context, ring=ring)


# ---------------------------------------------------------------------------------------------- fingerprint


def fingerprint(value: str | bytes, *, ring: KeyRing | None = None) -> str:
    """A short (12 hex chars) non-reversible tag for "which secret is set", safe to show in the UI.

    It is an HMAC keyed from the primary key, not a plain hash: secrets such as passwords or short tokens
    can be brute-forced from an unkeyed SHA-256 prefix, whereas the keyed version is useless without the key.
    Fingerprints change when the primary key changes, so compare them only within one key ring.
    """
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    key = _ring(ring).primary.fingerprint_key()
    return hmac.new(key, data, hashlib.sha256).hexdigest()[:_FINGERPRINT_HEX]
