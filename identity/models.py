"""Signing keys of the OIDC issuer.

The private key only ever exists in the database as a ``core.crypto`` envelope bound to
``platform / identity.signingkey / <kid> / private_key``; the public half is stored as a JWK so the JWKS
endpoint never has to touch the key ring.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

__all__ = ["SigningKey", "SigningKeyStatusChoices", "new_kid"]


class SigningKeyStatusChoices(models.TextChoices):
    """Life cycle: active (signs) -> retiring (published, no longer signs) -> retired (unpublished)."""

    ACTIVE = "active", "Active"
    RETIRING = "retiring", "Retiring"
    RETIRED = "retired", "Retired"


def new_kid() -> str:
    """A random key id: unguessable and unrelated to the key, so it reveals nothing and never collides."""
    return secrets.token_urlsafe(16)


class SigningKey(models.Model):
    """One RSA key pair the issuer signs assertions with.

    Exactly one key is active (partial unique index, plus a lock in ``identity.keys``). A rotated-out key
    stays published as "retiring" for ``OIDC_KEY_OVERLAP`` so assertions it signed, and relying parties'
    cached JWKS, keep working; after that it is "retired" and its private key is erased.
    """

    kid = models.CharField("key id", max_length=64, unique=True, default=new_kid, editable=False)
    algorithm = models.CharField(max_length=10, default="RS256", editable=False)
    public_jwk = models.JSONField("public JWK", editable=False)
    # PKCS#8 PEM encrypted with the key ring; empty once the key is retired (nothing left to steal).
    private_key_envelope = models.TextField(blank=True, editable=False)
    status = models.CharField(max_length=10, choices=SigningKeyStatusChoices.choices, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    retiring_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the key stopped signing; the overlap starts here."
    )
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status=SigningKeyStatusChoices.ACTIVE),
                name="identity_signingkey_one_active",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SigningKeyStatusChoices.values), name="identity_signingkey_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.status})"

    def __repr__(self) -> str:
        # Never include the envelope, even though it is encrypted: it has no business in logs.
        return f"<SigningKey kid={self.kid!r} status={self.status!r}>"
