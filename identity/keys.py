"""Services of the OIDC issuer: signing keys, their rotation, the JWKS and signed assertions.

Every state change is one function here (``get_active_key`` creating the first key, ``do_rotate_signing_key``,
``prune_signing_keys``, ``rewrap_signing_keys``): each runs in a transaction, serializes on the key set
(``_lock_keys``), writes one platform-level audit event per key changed, and is what the admin, the management
command and other apps call. Nothing else saves a ``SigningKey``.

Private keys live in the database only as ``core.crypto`` envelopes. Decrypting one costs a key-ring
unwrap (a KMS call when the ring uses KMS) plus PEM parsing, so decrypted keys are cached per process by kid;
the cache is tiny because only the active key signs. Neither the PEM nor the key object is ever logged.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import record_event
from accounts.choices import AuditAction
from core import crypto

from . import conf
from .models import SigningKey, SigningKeyStatusChoices, new_kid

__all__ = [
    "ALGORITHM",
    "PRIVATE_JWK_MEMBERS",
    "REGISTERED_CLAIMS",
    "RewrapResult",
    "SigningKeyError",
    "assertion_signer",
    "clear_key_cache",
    "do_rotate_signing_key",
    "get_active_key",
    "jwks",
    "private_key_context",
    "prune_signing_keys",
    "rewrap_signing_keys",
    "sign_assertion",
    "subject_for",
]

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
# Claims sign_assertion sets itself: letting ``extra`` override them would let a caller mint a token for
# another subject or audience, or one that never expires.
REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "iat", "nbf", "exp", "jti"})
# JWK members that carry private key material (RFC 7518 section 6.3.2, plus "k" for symmetric keys).
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# Only these members of a stored JWK are ever published: an allow-list, so a stray private member cannot leak.
_PUBLIC_JWK_MEMBERS = ("kty", "use", "alg", "kid", "n", "e")
_SUBJECT_PART = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_CACHE_SIZE = 4
# Arbitrary constant naming "the OIDC key set" for PostgreSQL advisory locks ("oidc_key" in ASCII).
_ADVISORY_LOCK_ID = 0x6F6964635F6B6579

_cache: OrderedDict[str, rsa.RSAPrivateKey] = OrderedDict()
_cache_lock = threading.Lock()

Status = SigningKeyStatusChoices




class SigningKeyError(Exception):
    """A signing key cannot be used (e.g. it was retired and its private key erased)."""


@dataclass
class RewrapResult:
    """Outcome of ``rewrap_signing_keys``: kids re-wrapped, and kids that failed with a message (no secrets)."""

    primary_kid: str
    rewrapped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _KeyMaterial:
    """A freshly generated key, prepared outside any transaction (RSA generation takes up to a second)."""

    kid: str
    private_key: rsa.RSAPrivateKey
    envelope: str
    public_jwk: dict[str, Any]

    def __repr__(self) -> str:
        return f"<_KeyMaterial kid={self.kid!r}>"


# ------------------------------------------------------------------------------------------------ helpers


def private_key_context(kid: str) -> crypto.SecretContext:
    """Where a signing key's private half lives: binds the envelope to this key id and field only."""
    return crypto.SecretContext(org="platform", model="identity.signingkey", row=kid, field="private_key")


def subject_for(org_slug: str, connection_name: str) -> str:
    """The ``sub`` claim for a connection: ``org:<org>:connection:<name>``.

    Clouds match the subject exactly (Azure federated credentials, AWS ``:sub`` conditions, GCP attribute
    mappings), so it must name both the organization and the connection, and be unambiguous: both parts are
    restricted to slug characters, so neither can smuggle in a ``:`` to impersonate another connection.
    """
    for label, value in (("org_slug", org_slug), ("connection_name", connection_name)):
        if not isinstance(value, str) or not _SUBJECT_PART.fullmatch(value):
            raise ValueError(f"{label} must be lowercase letters, digits and inner dashes, got {value!r}.")
    return f"org:{org_slug}:connection:{connection_name}"


def clear_key_cache() -> None:
    """Forget every decrypted private key of this process (tests; after restoring a database)."""
    with _cache_lock:
        _cache.clear()


def _remember(kid: str, private_key: rsa.RSAPrivateKey) -> None:
    with _cache_lock:
        _cache[kid] = private_key
        _cache.move_to_end(kid)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)


def _forget(kid: str) -> None:
    with _cache_lock:
        _cache.pop(kid, None)


def _private_key(key: SigningKey) -> rsa.RSAPrivateKey:
    """The decrypted private key of ``key``, from the per-process cache when possible."""
    with _cache_lock:
        cached = _cache.get(key.kid)
        if cached is not None:
            _cache.move_to_end(key.kid)
            return cached
    if not key.private_key_envelope:
        raise SigningKeyError(f"Signing key {key.kid} has no private key (it was retired).")
    pem = crypto.decrypt(key.private_key_envelope, context=private_key_context(key.kid))
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise SigningKeyError(f"Signing key {key.kid} does not hold an RSA private key.")
    _remember(key.kid, private_key)
    return private_key


def _generate_material() -> _KeyMaterial:
    """A new RSA key: PKCS#8 PEM encrypted under the key ring's primary, plus its public JWK."""
    kid = new_kid()
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=conf.key_size())
    pem = private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    envelope = crypto.encrypt(pem, context=private_key_context(kid))
    public_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    public_jwk.update(kid=kid, alg=ALGORITHM, use="sig")
    return _KeyMaterial(kid=kid, private_key=private_key, envelope=envelope, public_jwk=public_jwk)


def _store_active(material: _KeyMaterial, *, now: datetime) -> SigningKey:
    key = SigningKey.objects.create(
        kid=material.kid,
        algorithm=ALGORITHM,
        public_jwk=material.public_jwk,
        private_key_envelope=material.envelope,
        status=Status.ACTIVE,
        created_at=now,
        activated_at=now,
    )
    # Cache now: the first signature would otherwise decrypt what we just encrypted. If the transaction
    # rolls back, the entry names a kid that exists nowhere and simply ages out.
    _remember(material.kid, material.private_key)
    return key


def _lock_keys() -> None:
    """Serialize every change to the key set (call inside a transaction).

    PostgreSQL: a transaction-scoped advisory lock, which also covers "no key exists yet" (no row to lock).
    Elsewhere: lock the published rows; SQLite ignores FOR UPDATE but its IMMEDIATE transactions (see the
    settings) already serialize writers. The partial unique index is the last line of defence in all cases.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_ID])
    else:
        list(SigningKey.objects.select_for_update().exclude(status=Status.RETIRED).values_list("pk", flat=True))


def _active_key() -> SigningKey | None:
    return SigningKey.objects.filter(status=Status.ACTIVE).first()


def _published_filter(now: datetime) -> Q:
    cutoff = now - conf.key_overlap()
    return Q(status=Status.ACTIVE) | Q(status=Status.RETIRING, retiring_at__gt=cutoff)


# ----------------------------------------------------------------------------------------------- services


def get_active_key() -> SigningKey:
    """The key that signs now; the first call on an empty database creates it (race-safe, audited).

    Not durable on purpose: callers may sign inside their own transaction (e.g. while using a connection).
    """
    key = _active_key()
    if key is not None:
        return key
    material = _generate_material()
    try:
        with transaction.atomic():
            _lock_keys()
            key = _active_key()
            if key is None:
                key = _store_active(material, now=timezone.now())
                record_event(
                    org=None,
                    action=AuditAction.OIDC_KEY_CREATED,
                    target=key,
                    details={"kid": key.kid, "algorithm": ALGORITHM, "key_size": material.private_key.key_size},
                )
                logger.info("Created the first OIDC signing key %s.", key.kid)
    except IntegrityError:
        # Another process inserted the first key between our check and our insert (databases without
        # advisory locks): the unique index stopped the second one, so use the winner's.
        key = _active_key()
        if key is None:
            raise
    return key


def do_rotate_signing_key(*, actor: Any = None) -> SigningKey:
    """Make a new key active; the previous one keeps verifying (published as retiring) for the overlap.

    Also retires keys whose overlap has passed, so a rotation never grows the JWKS without bound.
    """
    material = _generate_material()
    with transaction.atomic(durable=True):
        _lock_keys()
        now = timezone.now()
        old = SigningKey.objects.select_for_update().filter(status=Status.ACTIVE).first()
        if old is not None:
            # Before the insert: the partial unique index allows one active row at any moment.
            SigningKey.objects.filter(pk=old.pk).update(status=Status.RETIRING, retiring_at=now)
        new = _store_active(material, now=now)
        record_event(
            org=None,
            action=AuditAction.OIDC_KEY_ROTATED,
            actor=actor,
            target=new,
            details={
                "old_kid": old.kid if old is not None else None,
                "new_kid": new.kid,
                "key_size": material.private_key.key_size,
                "overlap_seconds": int(conf.key_overlap().total_seconds()),
            },
        )
        _prune(now=now, actor=actor)
    logger.info("Rotated the OIDC signing key: %s is active.", new.kid)
    return new


def prune_signing_keys(*, now: datetime | None = None, actor: Any = None) -> list[str]:
    """Retire keys whose overlap has passed: drop them from the JWKS for good and erase their private key.

    ``jwks()`` already hides such keys by time, so this only makes the state (and the audit trail) match;
    ``now`` lets tests and the command run it for a given moment. Returns the kids retired.
    """
    with transaction.atomic():
        _lock_keys()
        return _prune(now=now or timezone.now(), actor=actor)


def _prune(*, now: datetime, actor: Any) -> list[str]:
    cutoff = now - conf.key_overlap()
    expired = list(
        SigningKey.objects.select_for_update().filter(status=Status.RETIRING, retiring_at__lte=cutoff).order_by("pk")
    )
    for key in expired:
        SigningKey.objects.filter(pk=key.pk).update(status=Status.RETIRED, retired_at=now, private_key_envelope="")
        _forget(key.kid)
        record_event(
            org=None,
            action=AuditAction.OIDC_KEY_RETIRED,
            actor=actor,
            target=key,
            details={"kid": key.kid, "retiring_at": key.retiring_at.isoformat() if key.retiring_at else None},
        )
    return [key.kid for key in expired]


def jwks(*, now: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """The JSON Web Key Set: public keys of the active key and of retiring keys still inside the overlap.

    Ensures an active key exists, so a relying party configured before the first assertion finds a key.
    """
    get_active_key()
    published = SigningKey.objects.filter(_published_filter(now or timezone.now()))
    # Active first, then the most recently rotated out: clients that try keys in order find the signer fast.
    ordered = sorted(published, key=lambda key: (key.status != Status.ACTIVE, -(key.created_at.timestamp())))
    return {"keys": [{m: key.public_jwk[m] for m in _PUBLIC_JWK_MEMBERS if m in key.public_jwk} for key in ordered]}


def sign_assertion(*, audience: str, subject: str, lifetime: int = 300, extra: dict[str, Any] | None = None) -> str:
    """A JWT (RS256, header ``kid``) asserting ``subject`` to ``audience``, valid for ``lifetime`` seconds.

    ``extra`` adds claims but may not replace the registered ones. Lifetimes are bounded by
    ``OIDC_MAX_ASSERTION_LIFETIME``: the assertion is a bearer credential until it expires.
    """
    if not isinstance(audience, str) or not audience:
        raise ValueError("audience must be a non-empty string.")
    if not isinstance(subject, str) or not subject:
        raise ValueError("subject must be a non-empty string.")
    if not isinstance(lifetime, int) or not 0 < lifetime <= conf.max_assertion_lifetime():
        raise ValueError(f"lifetime must be between 1 and {conf.max_assertion_lifetime()} seconds.")
    extra = dict(extra or {})
    if clash := REGISTERED_CLAIMS & extra.keys():
        raise ValueError(f"extra may not set registered claims: {', '.join(sorted(clash))}.")
    key = get_active_key()
    issued = int(timezone.now().timestamp())
    claims = {
        **extra,
        "iss": conf.issuer_url(),
        "sub": subject,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, _private_key(key), algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"})


def assertion_signer(*, subject: str, extra: dict[str, Any] | None = None) -> Any:
    """``sign(audience, lifetime) -> JWT`` for one subject, usable from threads without a database.

    A run's token refreshers sign from background threads for as long as the run lasts; resolving the
    active key once here keeps them off the database (a thread would need its own connection, and a
    test's transaction would be invisible to it). A key rotated during the run keeps verifying for
    ``OIDC_KEY_OVERLAP``, which outlives any token signed with it.
    """
    key = get_active_key()
    private_key, kid, issuer, limit = _private_key(key), key.kid, conf.issuer_url(), conf.max_assertion_lifetime()
    extra = dict(extra or {})
    if clash := REGISTERED_CLAIMS & extra.keys():
        raise ValueError(f"extra may not set registered claims: {', '.join(sorted(clash))}.")

    def sign(audience: str, lifetime: int) -> str:
        if not isinstance(audience, str) or not audience:
            raise ValueError("audience must be a non-empty string.")
        lifetime = max(1, min(int(lifetime), limit))
        issued = int(time.time())
        claims = {**extra, "iss": issuer, "sub": subject, "aud": audience, "iat": issued, "nbf": issued,
                  "exp": issued + lifetime, "jti": secrets.token_urlsafe(16)}  # fmt: skip
        return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})

    return sign


def rewrap_signing_keys(*, actor: Any = None) -> RewrapResult:
    """Re-wrap every stored private key to the key ring's primary (after a CONNECTIONS_KEYS rotation).

    One short transaction per key, so a failure (e.g. an old KEK already removed) leaves the others done;
    re-running skips keys already on the primary. The signing keys themselves do not change.
    """
    ring = crypto.KeyRing.from_settings()
    result = RewrapResult(primary_kid=ring.primary.kid)
    pks = list(SigningKey.objects.exclude(private_key_envelope="").order_by("pk").values_list("pk", flat=True))
    for pk in pks:
        try:
            kid = _rewrap_one(pk, ring=ring, actor=actor)
        except crypto.CryptoError as exc:
            kid = SigningKey.objects.filter(pk=pk).values_list("kid", flat=True).first() or str(pk)
            result.failed[kid] = str(exc)
            continue
        if kid is not None:
            result.rewrapped.append(kid)
    return result


def _rewrap_one(pk: int, *, ring: crypto.KeyRing, actor: Any) -> str | None:
    with transaction.atomic():
        key = SigningKey.objects.select_for_update().filter(pk=pk).exclude(private_key_envelope="").first()
        if key is None or not crypto.needs_rewrap(key.private_key_envelope, ring):
            return None  # retired meanwhile, or already re-wrapped by a concurrent run
        old_kek = crypto.envelope_kid(key.private_key_envelope)
        envelope = crypto.rewrap(key.private_key_envelope, context=private_key_context(key.kid), ring=ring)
        SigningKey.objects.filter(pk=pk).update(private_key_envelope=envelope)
        record_event(
            org=None,
            action=AuditAction.OIDC_KEY_REWRAPPED,
            actor=actor,
            target=key,
            details={"kid": key.kid, "old_key_id": old_kek, "new_key_id": ring.primary.kid},
        )
        return key.kid
