"""The issuer's public documents (identity/views.py): OpenID discovery and the JWKS."""

from __future__ import annotations

import importlib

import pytest
from django.test import Client

from identity import conf, keys
from identity.keys import get_active_key
from tests.identity.conftest import ISSUER

pytestmark = pytest.mark.django_db


def test_discovery_document(client: Client) -> None:
    response = client.get("/.well-known/openid-configuration")

    assert response.status_code == 200
    assert "max-age=300" in response["Cache-Control"] and "public" in response["Cache-Control"]
    document = response.json()
    assert document["issuer"] == ISSUER
    assert document["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert document["response_types_supported"] == ["id_token"]
    assert document["subject_types_supported"] == ["public"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"iss", "sub", "aud", "exp", "iat"} <= set(document["claims_supported"])


def test_documents_need_no_login_and_refuse_writes(client: Client) -> None:
    assert client.post("/.well-known/jwks.json").status_code == 405
    assert client.head("/.well-known/openid-configuration").status_code == 200


def test_jwks_shape(client: Client) -> None:
    response = client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert "max-age=300" in response["Cache-Control"]
    (key,) = response.json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert key["kid"] == get_active_key().kid
    assert key["e"] == "AQAB" and len(key["n"]) > 300  # 2048-bit modulus in base64url
    assert not keys.PRIVATE_JWK_MEMBERS & key.keys()


def test_issuer_url_default_has_no_trailing_slash(settings, monkeypatch) -> None:
    monkeypatch.delenv("OIDC_ISSUER_URL", raising=False)
    declared = importlib.reload(importlib.import_module("config.settings")).OIDC_ISSUER_URL
    assert declared == "http://127.0.0.1:8000"
    settings.OIDC_ISSUER_URL = declared + "/"
    assert conf.issuer_url() == "http://127.0.0.1:8000"
