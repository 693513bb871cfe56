"""Tests for core.crypto: envelope encryption must round-trip and must fail loudly, never wrongly.

These need no database and no Django settings (run with ``-p no:django``); KMS is exercised against moto in
server mode so the real boto3 code path (endpoint, region, EncryptionContext) is used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest

from core import crypto
from core.crypto import (
    CryptoError,
    DecryptionError,
    EncryptionError,
    KeyRing,
    KeyRingError,
    KmsKey,
    LocalKey,
    SecretContext,
    TamperedError,
    decrypt,
    decrypt_json,
    encrypt,
    encrypt_json,
    envelope_kid,
    fingerprint,
    generate_key_ring_entry,
    needs_rewrap,
    rewrap,
)

CANARY = "CANARY-crypto-7f3e"
ROOT = Path(__file__).resolve().parents[2]

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
KEY_A_B64 = base64.b64encode(KEY_A).decode()
KEY_B_B64 = base64.b64encode(KEY_B).decode()

CTX = SecretContext(
    org="0b8f6f1e-3c1d-4b8e-9d8a-2f7e9b1c0001",
    model="connections.connection",
    row="3f2a9c4e-1111-4a2b-8c3d-000000000001",
    field="secrets",
)


def ring(text: str) -> KeyRing:
    return KeyRing.parse(text)


RING_A = ring(f"a:{KEY_A_B64}")
RING_B = ring(f"b:{KEY_B_B64}")
RING_BA = ring(f"b:{KEY_B_B64},a:{KEY_A_B64}")


def flip_char(text: str, index: int) -> str:
    """Replace one character by a different one that is still valid in every envelope alphabet."""
    replacement = "B" if text[index] == "A" else "A"
    return text[:index] + replacement + text[index + 1 :]


def flip_part_byte(envelope: str, part: int, byte_index: int = 0) -> str:
    """Flip one bit of one decoded byte of a base64 part and re-encode it canonically."""
    parts = envelope.split(":")
    raw = bytearray(base64.urlsafe_b64decode(parts[part] + "=" * (-len(parts[part]) % 4)))
    raw[byte_index] ^= 0x01
    parts[part] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return ":".join(parts)


def assert_clean(exc: BaseException, *secrets: str) -> None:
    """Error text (message, args, repr) must not contain plaintext or key material."""
    texts = [str(exc), repr(exc), *(str(arg) for arg in exc.args)]
    for text in texts:
        for secret in (CANARY, KEY_A_B64, KEY_B_B64, *secrets):
            assert secret not in text


# ------------------------------------------------------------------------------------------- round trips


def test_round_trip_bytes():
    envelope = encrypt(CANARY.encode(), context=CTX, ring=RING_A)
    assert decrypt(envelope, context=CTX, ring=RING_A) == CANARY.encode()


def test_round_trip_dict_and_json_helpers():
    payload = {"access_key_id": "AKIA…", "secret_access_key": CANARY, "nested": {"n": 1}}
    assert decrypt_json(encrypt(payload, context=CTX, ring=RING_A), context=CTX, ring=RING_A) == payload
    assert decrypt_json(encrypt_json(payload, context=CTX, ring=RING_A), context=CTX, ring=RING_A) == payload


def test_empty_payload_round_trips():
    assert decrypt(encrypt(b"", context=CTX, ring=RING_A), context=CTX, ring=RING_A) == b""


def test_envelope_format_is_ascii_and_names_kid():
    envelope = encrypt(CANARY.encode(), context=CTX, ring=RING_BA)
    assert envelope.isascii()
    assert CANARY not in envelope
    version, kid, wrapped, nonce, _ciphertext = envelope.split(":")
    assert (version, kid) == ("v1", "b")
    assert envelope_kid(envelope) == "b"
    assert len(base64.urlsafe_b64decode(nonce + "==")) == 12
    assert len(base64.urlsafe_b64decode(wrapped + "==")) == 12 + 32 + 16


def test_two_encryptions_of_same_value_differ():
    first = encrypt(CANARY.encode(), context=CTX, ring=RING_A)
    second = encrypt(CANARY.encode(), context=CTX, ring=RING_A)
    assert first != second
    assert first.split(":")[2:] != second.split(":")[2:]
    assert all(a != b for a, b in zip(first.split(":")[2:], second.split(":")[2:], strict=True))


def test_encrypt_rejects_other_types():
    with pytest.raises(TypeError):
        encrypt(CANARY, context=CTX, ring=RING_A)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encrypt_json([CANARY], context=CTX, ring=RING_A)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["org", "model", "row", "field"])
@pytest.mark.parametrize("bad", ["", None, 42])
def test_secret_context_requires_non_empty_strings(field, bad):
    values = {"org": "o", "model": "m", "row": "r", "field": "f", field: bad}
    with pytest.raises(ValueError, match=field):
        SecretContext(**values)


# --------------------------------------------------------------------------------------------- tampering


@pytest.mark.parametrize(("part", "name"), [(2, "wrapped key"), (3, "nonce"), (4, "ciphertext")])
@pytest.mark.parametrize("where", ["first", "last"])
def test_flipping_a_byte_in_any_part_fails(part, name, where):
    envelope = encrypt(CANARY.encode(), context=CTX, ring=RING_A)
    byte_index = 0 if where == "first" else -1
    tampered = flip_part_byte(envelope, part, byte_index)
    assert tampered != envelope
    with pytest.raises(TamperedError) as info:
        decrypt(tampered, context=CTX, ring=RING_A)
    message = str(info.value)
    assert "connections.connection" in message and CTX.row in message and "secrets" in message
    assert "modified or belongs to another record" in message
    assert_clean(info.value)


def test_changing_any_character_of_the_envelope_fails():
    """Exhaustive: every single-character change (including base64 padding bits and separators) is caught."""
    envelope = encrypt(CANARY.encode(), context=CTX, ring=RING_BA)
    for index in range(len(envelope)):
        tampered = flip_char(envelope, index)
        with pytest.raises(DecryptionError) as info:
            decrypt(tampered, context=CTX, ring=RING_BA)
        assert_clean(info.value)


def test_relabelling_kid_to_another_ring_key_fails():
    envelope = encrypt(CANARY.encode(), context=CTX, ring=RING_BA)
    assert envelope_kid(envelope) == "b"
    relabelled = envelope.replace("v1:b:", "v1:a:", 1)
    with pytest.raises(TamperedError, match="modified or belongs to another record"):
        decrypt(relabelled, context=CTX, ring=RING_BA)


def test_wrapped_key_from_another_envelope_fails():
    """Swapping wrapped keys between two envelopes of the same record must not decrypt either."""
    one = encrypt(b"one", context=CTX, ring=RING_A).split(":")
    two = encrypt(b"two", context=CTX, ring=RING_A).split(":")
    mixed = ":".join([*one[:2], two[2], *one[3:]])
    with pytest.raises(TamperedError):
        decrypt(mixed, context=CTX, ring=RING_A)


@pytest.mark.parametrize(
    "change",
    [
        {"org": "0b8f6f1e-3c1d-4b8e-9d8a-2f7e9b1c0002"},
        {"row": "3f2a9c4e-1111-4a2b-8c3d-000000000002"},
        {"field": "config"},
        {"model": "connections.environment"},
    ],
)
def test_envelope_copied_to_another_record_fails(change):
    envelope = encrypt(CANARY.encode(), context=CTX, ring=RING_A)
    other = SecretContext(**{**{"org": CTX.org, "model": CTX.model, "row": CTX.row, "field": CTX.field}, **change})
    with pytest.raises(TamperedError) as info:
        decrypt(envelope, context=other, ring=RING_A)
    message = str(info.value)
    assert f"{other.model} {other.row}/{other.field}" in message
    assert "modified or belongs to another record" in message
    assert_clean(info.value)


def test_unknown_kid_message():
    envelope = encrypt(CANARY.encode(), context=CTX, ring=ring(f"old:{KEY_A_B64}"))
    with pytest.raises(DecryptionError) as info:
        decrypt(envelope, context=CTX, ring=RING_B)
    assert not isinstance(info.value, TamperedError)
    assert str(info.value) == (
        f"Encrypted value of connections.connection {CTX.row}/secrets could not be decrypted: "
        "it was encrypted with key 'old' which is not in CONNECTIONS_KEYS."
    )


@pytest.mark.parametrize(
    "envelope",
    [
        "",
        CANARY,
        f"v1:a:{CANARY}",
        f"v1:a:{CANARY}:AAAA:AAAA",
        f"v2:a:{'A' * 80}:{'A' * 16}:{'A' * 24}",
        f"v1:a:{'A' * 80}:{'A' * 16}:{'A' * 24}:extra",
        f"v1:not valid!:{'A' * 80}:{'A' * 16}:{'A' * 24}",
        f"v1:a::{'A' * 16}:{'A' * 24}",
        f"v1:a:{'A' * 80}:{'A' * 15}:{'A' * 24}",  # 15 chars cannot be canonical base64 of 12 bytes
        f"v1:a:{'A' * 80}:{'A' * 16}:{'A' * 8}",  # shorter than a GCM tag
        f"v1:a:{'A' * 80}:{'A' * 16}:{'A' * 23}é",
    ],
)
def test_malformed_envelope_fails_without_echoing_it(envelope):
    with pytest.raises(DecryptionError) as info:
        decrypt(envelope, context=CTX, ring=RING_A)
    assert CTX.row in str(info.value)
    assert_clean(info.value)


def test_malformed_envelope_kid():
    with pytest.raises(DecryptionError):
        envelope_kid(CANARY)
    with pytest.raises(DecryptionError):
        needs_rewrap(CANARY, RING_A)


def test_non_string_envelope_fails():
    with pytest.raises(DecryptionError):
        decrypt(None, context=CTX, ring=RING_A)  # type: ignore[arg-type]


def test_decrypt_json_of_non_object_fails_without_echo():
    envelope = encrypt(json.dumps([CANARY]).encode(), context=CTX, ring=RING_A)
    with pytest.raises(DecryptionError) as info:
        decrypt_json(envelope, context=CTX, ring=RING_A)
    assert_clean(info.value)


def test_all_errors_are_crypto_errors():
    assert issubclass(DecryptionError, CryptoError)
    assert issubclass(TamperedError, DecryptionError)
    assert issubclass(EncryptionError, CryptoError)
    assert issubclass(KeyRingError, CryptoError)


# ---------------------------------------------------------------------------------------------- rotation


def test_rotation_flow():
    old = encrypt(CANARY.encode(), context=CTX, ring=RING_A)
    assert envelope_kid(old) == "a"

    # The new ring still decrypts old values.
    assert decrypt(old, context=CTX, ring=RING_BA) == CANARY.encode()
    assert needs_rewrap(old, RING_BA) is True
    assert needs_rewrap(old, RING_A) is False

    rotated = rewrap(old, context=CTX, ring=RING_BA)
    assert envelope_kid(rotated) == "b"
    assert needs_rewrap(rotated, RING_BA) is False
    # Once every value is rewrapped, the old key can be dropped from the ring.
    assert decrypt(rotated, context=CTX, ring=RING_B) == CANARY.encode()
    with pytest.raises(DecryptionError, match="key 'a' which is not in CONNECTIONS_KEYS"):
        decrypt(old, context=CTX, ring=RING_B)

    # Rewrapping an envelope that already uses the primary is a no-op.
    assert rewrap(rotated, context=CTX, ring=RING_BA) is rotated


def test_rewrap_refuses_tampered_or_misplaced_envelopes():
    old = encrypt(CANARY.encode(), context=CTX, ring=RING_A)
    with pytest.raises(TamperedError):
        rewrap(flip_part_byte(old, 4), context=CTX, ring=RING_BA)
    other = SecretContext(org=CTX.org, model=CTX.model, row="another-row", field=CTX.field)
    with pytest.raises(TamperedError):
        rewrap(old, context=other, ring=RING_BA)


# ---------------------------------------------------------------------------------------------- key ring


def test_key_ring_basics():
    assert RING_BA.primary.kid == "b"
    assert RING_BA.kids == ("b", "a")
    assert isinstance(RING_BA.get("a"), LocalKey)
    assert RING_BA.get("missing") is None
    assert "a" in RING_BA and "missing" not in RING_BA
    assert len(RING_BA) == 2
    for text in (repr(RING_BA), repr(RING_BA.get("a")), repr(RING_BA.primary)):
        assert KEY_A_B64 not in text and KEY_B_B64 not in text


@pytest.mark.parametrize(
    "text",
    [
        KEY_A_B64,  # standard, padded
        KEY_A_B64.rstrip("="),
        base64.urlsafe_b64encode(KEY_A).decode(),
        base64.urlsafe_b64encode(KEY_A).decode().rstrip("="),
    ],
)
def test_key_ring_accepts_standard_and_urlsafe_base64(text):
    parsed = ring(f"a:{text}")
    # Same key: an envelope from the reference ring decrypts.
    assert decrypt(encrypt(b"x", context=CTX, ring=RING_A), context=CTX, ring=parsed) == b"x"


def test_key_ring_accepts_alphabet_specific_characters():
    key = b"\xfb\xff\xbf" * 10 + b"\xfb\xff"  # encodes to '+', '/' (standard) or '-', '_' (urlsafe)
    standard = base64.b64encode(key).decode()
    urlsafe = base64.urlsafe_b64encode(key).decode()
    assert "+" in standard and "-" in urlsafe
    envelope = encrypt(b"x", context=CTX, ring=ring(f"k:{standard}"))
    assert decrypt(envelope, context=CTX, ring=ring(f" k:{urlsafe} ")) == b"x"


def test_key_ring_parses_kms_entries_and_whitespace():
    parsed = ring(f" a:{KEY_A_B64} , k1:kms:arn:aws:kms:eu-west-1:111122223333:key/abcd ,k2:kms:alias/connections")
    assert parsed.kids == ("a", "k1", "k2")
    k1 = parsed.get("k1")
    assert isinstance(k1, KmsKey)
    assert k1.key_id == "arn:aws:kms:eu-west-1:111122223333:key/abcd"
    assert parsed.get("k2").key_id == "alias/connections"


SHORT_KEY = base64.b64encode(b"\x01" * 16).decode()


@pytest.mark.parametrize(
    ("text", "material"),
    [
        ("", None),
        ("   ", None),
        (KEY_A_B64, KEY_A_B64),  # just a key, no kid
        ("a:", None),
        (f":{KEY_A_B64}", KEY_A_B64),
        ("a:not*base64!!", "not*base64!!"),
        (f"a:{SHORT_KEY}", SHORT_KEY),
        (f"a:{KEY_A_B64}xx", KEY_A_B64),
        (f"a:{KEY_A_B64},a:{KEY_B_B64}", KEY_B_B64),
        (f"bad kid!:{KEY_A_B64}", KEY_A_B64),
        (f"{'k' * 33}:{KEY_A_B64}", KEY_A_B64),
        (f"{KEY_B_B64}:{KEY_A_B64}", KEY_B_B64),  # key pasted where the kid belongs
        (f"a:{KEY_A_B64},", KEY_A_B64),
        (f"a:{KEY_A_B64},,b:{KEY_B_B64}", KEY_B_B64),
        ("k:kms:", None),
        ("k:kms:alias/has space", None),
    ],
)
def test_bad_key_rings_raise_readable_error_without_key_material(text, material):
    with pytest.raises(KeyRingError) as info:
        ring(text)
    message = str(info.value)
    assert message and "\n" not in message and message.endswith(".")
    if material:
        assert material not in message
    assert KEY_A_B64 not in message and KEY_B_B64 not in message


def test_key_ring_rejects_non_string_and_empty_list():
    with pytest.raises(KeyRingError):
        KeyRing.parse(None)  # type: ignore[arg-type]
    with pytest.raises(KeyRingError):
        KeyRing([])


def test_local_key_rejects_wrong_length():
    with pytest.raises(KeyRingError):
        LocalKey("a", b"short")


def test_generate_key_ring_entry():
    entry = generate_key_ring_entry("dev1")
    kid, key = entry.split(":", 1)
    assert kid == "dev1"
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert generate_key_ring_entry("dev1") != entry
    generated = ring(f"{entry},{generate_key_ring_entry('old')}")
    assert generated.kids == ("dev1", "old")
    with pytest.raises(KeyRingError):
        generate_key_ring_entry("bad kid")


def test_from_settings_reads_lazily_and_caches(monkeypatch):
    first_text = f"a:{KEY_A_B64}"
    monkeypatch.setattr("django.conf.settings", SimpleNamespace(CONNECTIONS_KEYS=first_text))
    KeyRing.clear_cache()
    first = KeyRing.from_settings()
    assert first.kids == ("a",)
    assert KeyRing.from_settings() is first

    # ring=None uses the settings ring.
    envelope = encrypt(CANARY.encode(), context=CTX)
    assert decrypt(envelope, context=CTX) == CANARY.encode()
    assert needs_rewrap(envelope) is False

    monkeypatch.setattr("django.conf.settings", SimpleNamespace(CONNECTIONS_KEYS=f"b:{KEY_B_B64},{first_text}"))
    second = KeyRing.from_settings()
    assert second is not first and second.kids == ("b", "a")
    assert needs_rewrap(envelope) is True

    monkeypatch.setattr("django.conf.settings", SimpleNamespace())
    with pytest.raises(KeyRingError, match="not set"):
        KeyRing.from_settings()


def test_module_imports_without_django_or_boto3():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = "import sys, core.crypto; assert 'django.conf' not in sys.modules; assert 'boto3' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


# ------------------------------------------------------------------------------------------- fingerprint


def test_fingerprint_is_short_keyed_and_stable():
    fp = fingerprint(CANARY, ring=RING_A)
    assert len(fp) == 12 and all(c in "0123456789abcdef" for c in fp)
    assert fingerprint(CANARY, ring=RING_A) == fp
    assert fingerprint(CANARY.encode(), ring=RING_A) == fp
    assert fingerprint(CANARY + "x", ring=RING_A) != fp
    # Keyed: another primary gives another fingerprint, and it is not a plain hash prefix.
    assert fingerprint(CANARY, ring=RING_B) != fp
    assert fingerprint(CANARY, ring=RING_BA) == fingerprint(CANARY, ring=RING_B)
    assert hashlib.sha256(CANARY.encode()).hexdigest()[:12] != fp
    assert CANARY not in fp


# ------------------------------------------------------------------------------------------------- KMS


@pytest.fixture
def moto_kms(monkeypatch):
    # late import: moto.server loads Flask and moto's backends (~1 s); only the KMS tests pay for it
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.delenv("AWS_REGION", raising=False)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        client = boto3.client("kms", region_name="us-east-1")
        yield client
    finally:
        server.stop()


def test_kms_round_trip_and_client_reuse(moto_kms, monkeypatch):
    key_id = moto_kms.create_key(Description="connections test")["KeyMetadata"]["KeyId"]
    kms_ring = ring(f"k1:kms:{key_id}")

    created = []
    real_session = boto3.session.Session

    class CountingSession(real_session):
        def client(self, *args, **kwargs):
            created.append((args, kwargs))
            return super().client(*args, **kwargs)

    monkeypatch.setattr(boto3.session, "Session", CountingSession)

    payload = {"secret_access_key": CANARY}
    envelope = encrypt_json(payload, context=CTX, ring=kms_ring)
    assert envelope_kid(envelope) == "k1"
    assert CANARY not in envelope
    assert decrypt_json(envelope, context=CTX, ring=kms_ring) == payload
    assert decrypt_json(envelope, context=CTX, ring=kms_ring) == payload
    assert len(created) == 1
    assert created[0][1]["region_name"] == "us-east-1"

    # A fresh ring (new KmsKey) works too, e.g. in another process.
    assert decrypt_json(envelope, context=CTX, ring=ring(f"k1:kms:{key_id}")) == payload


def test_kms_alias_and_region_from_aws_region(moto_kms, monkeypatch):
    key_id = moto_kms.create_key()["KeyMetadata"]["KeyId"]
    moto_kms.create_alias(AliasName="alias/connections", TargetKeyId=key_id)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # AWS_REGION wins
    kms_ring = ring("k1:kms:alias/connections")
    assert kms_ring.get("k1").client.meta.region_name == "us-east-1"
    envelope = encrypt(CANARY.encode(), context=CTX, ring=kms_ring)
    assert decrypt(envelope, context=CTX, ring=kms_ring) == CANARY.encode()


def test_kms_wrong_context_fails(moto_kms):
    key_id = moto_kms.create_key()["KeyMetadata"]["KeyId"]
    kms_ring = ring(f"k1:kms:{key_id}")
    envelope = encrypt(CANARY.encode(), context=CTX, ring=kms_ring)
    other = SecretContext(org=CTX.org, model=CTX.model, row="another-row", field=CTX.field)
    with pytest.raises(TamperedError) as info:
        decrypt(envelope, context=other, ring=kms_ring)
    assert "connections.connection another-row/secrets" in str(info.value)
    assert_clean(info.value)

    # moto enforces EncryptionContext on Decrypt, as KMS does: the KEK alone rejects a foreign context.
    kek = kms_ring.primary
    wrapped = base64.urlsafe_b64decode(envelope.split(":")[2] + "==")
    assert len(kek.unwrap(wrapped, CTX.associated_data("k1"))) == 32
    with pytest.raises(TamperedError):
        kek.unwrap(wrapped, other.associated_data("k1"))


def test_kms_tampered_wrapped_key_fails(moto_kms):
    key_id = moto_kms.create_key()["KeyMetadata"]["KeyId"]
    kms_ring = ring(f"k1:kms:{key_id}")
    envelope = encrypt(CANARY.encode(), context=CTX, ring=kms_ring)
    for tampered in (flip_part_byte(envelope, 2, -1), flip_part_byte(envelope, 4)):
        with pytest.raises(DecryptionError) as info:
            decrypt(tampered, context=CTX, ring=kms_ring)
        assert_clean(info.value)


def test_kms_errors_are_readable(moto_kms):
    key_id = moto_kms.create_key()["KeyMetadata"]["KeyId"]
    kms_ring = ring(f"k1:kms:{key_id}")
    envelope = encrypt(CANARY.encode(), context=CTX, ring=kms_ring)

    # Pointing kid 'k1' at another KMS key: KMS answers AccessDenied (moto does not model disabled keys).
    other_key = moto_kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(DecryptionError) as info:
        decrypt(envelope, context=CTX, ring=ring(f"k1:kms:{other_key}"))
    assert not isinstance(info.value, TamperedError)
    message = str(info.value)
    assert message.startswith(f"Encrypted value of connections.connection {CTX.row}/secrets could not be decrypted")
    assert "AWS KMS key 'k1'" in message
    assert_clean(info.value)

    with pytest.raises(EncryptionError) as info:
        encrypt(CANARY.encode(), context=CTX, ring=ring("k2:kms:alias/does-not-exist"))
    message = str(info.value)
    assert message.startswith(f"Value of connections.connection {CTX.row}/secrets could not be encrypted")
    assert "AWS KMS key 'k2'" in message and "NotFoundException" in message
    assert_clean(info.value)


def test_kms_rotation_from_local_key(moto_kms):
    key_id = moto_kms.create_key()["KeyMetadata"]["KeyId"]
    old = encrypt(CANARY.encode(), context=CTX, ring=RING_A)
    rotated_ring = ring(f"k1:kms:{key_id},a:{KEY_A_B64}")
    assert needs_rewrap(old, rotated_ring)
    rotated = rewrap(old, context=CTX, ring=rotated_ring)
    assert envelope_kid(rotated) == "k1"
    assert decrypt(rotated, context=CTX, ring=ring(f"k1:kms:{key_id}")) == CANARY.encode()


def test_kms_primary_fingerprint():
    kms_ring = ring("k1:kms:alias/connections")  # no AWS call needed
    fp = fingerprint(CANARY, ring=kms_ring)
    assert len(fp) == 12
    assert fp != fingerprint(CANARY, ring=ring("k1:kms:alias/other"))


def test_module_docstring_documents_format():
    assert "v1:<kid>:<wrapped data key>:<nonce>:<ciphertext>" in (crypto.__doc__ or "")
