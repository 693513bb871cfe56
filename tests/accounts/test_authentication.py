"""API token authentication (accounts/authentication.py): expired, revoked, unknown and malformed tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import APIToken
from tests.accounts.conftest import token_client

pytestmark = pytest.mark.django_db


def test_expired_token_is_refused(members, org):
    token, value = services.do_create_token(org, actor=members["admin"], name="old")
    APIToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = token_client(value).get("/api/v1/orgs/acme/environments/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Token has expired."


def test_revoked_token_is_refused(members, org, api_as):
    token, value = services.do_create_token(org, actor=members["user"], name="gone")
    assert api_as("user").delete(f"/api/v1/orgs/acme/tokens/{token.pk}/").status_code == 200
    assert token_client(value).get("/api/v1/orgs/acme/").status_code == 401


def test_unknown_and_malformed_tokens(api, org):
    assert token_client("ccp_nope").get("/api/v1/me").status_code == 401
    api.credentials(HTTP_AUTHORIZATION="Bearer a b")
    assert api.get("/api/v1/me").status_code == 401
