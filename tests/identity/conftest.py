"""Fixtures and helpers for the OIDC issuer tests (verify like a relying party), and the reusable
``fake_azure`` fixture.

``fake_azure`` is a running ``FakeAzureAD`` whose ``jwks_provider`` fetches OUR JWKS through the Django test
client. The fake calls it from its server thread, which has its own database connection: tests that exchange
client assertions must therefore use ``@pytest.mark.django_db(transaction=True)`` so the signing key is
committed and visible there. Client-secret grants never call the provider and work with plain ``db``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from identity import keys

from .fake_azure import FakeAzureAD


@pytest.fixture(autouse=True)
def _oidc_test_settings(settings) -> Iterator[None]:
    """Small keys keep the suite fast; a clean key cache keeps tests independent of each other."""
    settings.OIDC_KEY_SIZE = 2048
    keys.clear_key_cache()
    yield
    keys.clear_key_cache()


def our_jwks_via_test_client() -> dict[str, Any]:
    """Our JWKS as a relying party sees it (HTTP through the URL conf), safe to call from another thread."""
    try:
        response = Client().get("/.well-known/jwks.json")
        assert response.status_code == 200, response.status_code
        return response.json()
    finally:
        # The calling thread's own connection must not outlive the request: the test database is flushed
        # (or dropped) from the main thread afterwards.
        connections.close_all()


@pytest.fixture
def fake_azure(tmp_path) -> Iterator[FakeAzureAD]:
    """A running fake Entra ID over HTTPS (CA file in ``tmp_path``), trusting our issuer's JWKS."""
    with FakeAzureAD(jwks_provider=our_jwks_via_test_client, tls_dir=tmp_path / "fake-azure") as fake:
        yield fake


# --- The issuer as a relying party sees it -----------------------------------------------------------

ISSUER = "https://issuer.example.test"
AUDIENCE = "sts.amazonaws.com"
SUBJECT = "org:acme:connection:aws-prod"
CLIENT_ID = "11111111-2222-4333-8444-555555555555"
ARM_SCOPE = "https://management.azure.com/.default"


@pytest.fixture(autouse=True)
def _issuer(settings) -> None:
    settings.OIDC_ISSUER_URL = ISSUER + "/"  # the trailing slash must not reach "iss"


def fetch_jwks(client: Client) -> dict[str, Any]:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return response.json()


def verify(token: str, client: Client, *, audience: str = AUDIENCE) -> dict[str, Any]:
    """Verify like a relying party: nothing but the JWKS fetched over HTTP."""
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(key for key in fetch_jwks(client)["keys"] if key["kid"] == kid)
    return jwt.decode(token, key=jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=audience, issuer=ISSUER)


def shift_time(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> None:
    moment = timezone.now() + delta
    monkeypatch.setattr(timezone, "now", lambda: moment)


def b64url_int(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()
