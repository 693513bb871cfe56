"""Settings of the OIDC issuer, read lazily so ``override_settings`` in tests takes effect.

Every value is declared, with its default, in config/settings.py (environment variables of the same
name); this module only validates and converts them.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ALLOWED_KEY_SIZES = (2048, 3072, 4096)


def issuer_url() -> str:
    """``OIDC_ISSUER_URL`` without a trailing slash: ``iss`` must equal the configured issuer byte for byte."""
    value = settings.OIDC_ISSUER_URL
    if not isinstance(value, str) or not value.strip():
        raise ImproperlyConfigured("OIDC_ISSUER_URL must be a non-empty URL.")
    return value.strip().rstrip("/")


def jwks_url() -> str:
    """Where relying parties fetch our public keys (derived from the issuer, as discovery requires)."""
    return f"{issuer_url()}/.well-known/jwks.json"


def key_overlap() -> timedelta:
    """How long a rotated-out key stays in the JWKS (``OIDC_KEY_OVERLAP``: a timedelta or seconds).

    It must outlive both the longest assertion and the time relying parties cache our JWKS.
    """
    value = settings.OIDC_KEY_OVERLAP
    overlap = value if isinstance(value, timedelta) else timedelta(seconds=float(value))
    if overlap < timedelta(0):
        raise ImproperlyConfigured("OIDC_KEY_OVERLAP must not be negative.")
    return overlap


def key_size() -> int:
    """RSA modulus size for new signing keys (``OIDC_KEY_SIZE``); tests lower it to 2048 for speed."""
    value = int(settings.OIDC_KEY_SIZE)
    if value not in ALLOWED_KEY_SIZES:
        raise ImproperlyConfigured(f"OIDC_KEY_SIZE must be one of {ALLOWED_KEY_SIZES}.")
    return value


def document_max_age() -> int:
    """Seconds the discovery document and JWKS may be cached (``OIDC_DOCUMENT_MAX_AGE``, default 5 minutes)."""
    return int(settings.OIDC_DOCUMENT_MAX_AGE)


def max_assertion_lifetime() -> int:
    """Upper bound for ``sign_assertion(lifetime=...)``: a leaked assertion must expire quickly."""
    return int(settings.OIDC_MAX_ASSERTION_LIFETIME)
