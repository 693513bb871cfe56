"""Fixtures for the OIDC issuer tests, and the reusable ``fake_azure`` fixture.

``fake_azure`` is a running ``FakeAzureAD`` whose ``jwks_provider`` fetches OUR JWKS through the Django test
client. The fake calls it from its server thread, which has its own database connection: tests that exchange
client assertions must therefore use ``@pytest.mark.django_db(transaction=True)`` so the signing key is
committed and visible there. Client-secret grants never call the provider and work with plain ``db``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.test import Client

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
