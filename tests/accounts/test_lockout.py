"""Sign-in lockout (django-axes, accounts/lockout.py): the API's JSON 429 and the page's locked-out page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import APIToken
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_failed_logins_are_rate_limited_on_token_endpoint(api, members, org, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        api.post("/api/v1/auth/token/", {"email": "user@acme.test", "password": "wrong", "org": "acme"})
    locked = api.post("/api/v1/auth/token/", {"email": "user@acme.test", "password": PASSWORD, "org": "acme"})
    assert locked.status_code == 429, locked.content
    assert "Too many failed login attempts" in locked.json()["error"]["message"]
    assert not APIToken.objects.exists()


def test_failed_logins_are_rate_limited_on_login_page(client, members, org, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post("/login/", {"username": "user@acme.test", "password": "wrong"})
    locked = client.post("/login/", {"username": "user@acme.test", "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_repeated_failed_logins_show_the_locked_out_page(client, org, members):
    for _ in range(5):
        client.post(reverse("login"), {"username": "admin@acme.test", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "admin@acme.test", "password": PASSWORD})
    assert response.status_code == 429
    assert "Sign-in temporarily blocked" in response.content.decode()
    assert "registration/locked_out.html" in [t.name for t in response.templates]
