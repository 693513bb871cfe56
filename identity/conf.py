"""Settings of the OIDC issuer, read lazily so ``override_settings`` in tests takes effect.

The project settings file is owned elsewhere; every value here has a working default and can be
overridden there (or in the environment, by whoever owns the settings file).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_ISSUER_URL = "http://127.0.0.1:8000"
DEFAULT_KEY_OVERLAP = timedelta(hours=24)
DEFAULT_KEY_SIZE = 3072
ALLOWED_KEY_SIZES = (2048, 3072, 4096)
DEFAULT_DOCUMENT_MAX_AGE = 300
DEFAULT_MAX_ASSERTION_LIFETIME = 3600


def issuer_url() -> str:
    """``OIDC_ISSUER_URL`` without a trailing slash: ``iss`` must equal the configured issuer byte for byte."""
    value = getattr(settings, "OIDC_ISSUER_URL", DEFAULT_ISSUER_URL)
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
    value = getattr(settings, "OIDC_KEY_OVERLAP", DEFAULT_KEY_OVERLAP)
    overlap = value if isinstance(value, timedelta) else timedelta(seconds=float(value))
    if overlap < timedelta(0):
        raise ImproperlyConfigured("OIDC_KEY_OVERLAP must not be negative.")
    return overlap


def key_size() -> int:
    """RSA modulus size for new signing keys (``OIDC_KEY_SIZE``); tests lower it to 2048 for speed."""
    value = int(getattr(settings, "OIDC_KEY_SIZE", DEFAULT_KEY_SIZE))
    if value not in ALLOWED_KEY_SIZES:
        raise ImproperlyConfigured(f"OIDC_KEY_SIZE must be one of {ALLOWED_KEY_SIZES}.")
    return value


def document_max_age() -> int:
    """Seconds the discovery document and JWKS may be cached (``OIDC_DOCUMENT_MAX_AGE``, default 5 minutes)."""
    return int(getattr(settings, "OIDC_DOCUMENT_MAX_AGE", DEFAULT_DOCUMENT_MAX_AGE))


def max_assertion_lifetime() -> int:
    """Upper bound for ``sign_assertion(lifetime=...)``: a leaked assertion must expire quickly."""
    return int(getattr(settings, "OIDC_MAX_ASSERTION_LIFETIME", DEFAULT_MAX_ASSERTION_LIFETIME))
