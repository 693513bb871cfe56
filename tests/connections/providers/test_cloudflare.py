"""Cloudflare (connections/providers/cloudflare.py): the check verifies the token and the account against a
local fake of its API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.connections.providers.checks_saas import (
    assert_no_secret,
    example,
    fail,
    loopback_allowed,  # noqa: F401
    only_auth_headers,
    run,
)
from tests.fakes.saas import CloudflareFake

ACCOUNT_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def cloudflare_secrets() -> dict[str, Any]:
    return example("cloudflare", "api_token")[1]


def test_cloudflare_verifies_the_token_and_the_account(settings, cloudflare_secrets):
    config, secrets = example("cloudflare", "api_token")
    with CloudflareFake(secrets["token"], accounts={ACCOUNT_ID: "Acme"}) as fake:
        settings.PROVIDER_ENDPOINTS = {"cloudflare": fake.url}

        result = run("cloudflare", "api_token", config, secrets)

        assert result.message == "Cloudflare API token is active for account Acme."
        assert result.details["token_status"] == "active"
        assert [r.path for r in fake.requests] == ["/user/tokens/verify", f"/accounts/{ACCOUNT_ID}"]
        for request in fake.requests:
            only_auth_headers(request, {"Authorization": f"Bearer {secrets['token']}"})
        assert_no_secret(result, secrets)


@pytest.mark.parametrize(
    ("fake_kwargs", "use_token", "reason"),
    [
        ({"status": "disabled"}, True, "The API token is disabled."),
        ({}, False, "Invalid API Token"),
        ({"accounts": {}}, True, f"Account {ACCOUNT_ID} is not accessible with this token "
                                 "(Unauthorized to access requested resource)."),
    ],
    ids=["inactive-token", "unknown-token", "no-account-access"],
)  # fmt: skip
def test_cloudflare_failures(settings, fake_kwargs, use_token, reason):
    config, secrets = example("cloudflare", "api_token")
    token = secrets["token"] if use_token else "cfToken_" + "9" * 40
    with CloudflareFake(token, **{"accounts": {ACCOUNT_ID: "Acme"}, **fake_kwargs}) as fake:
        settings.PROVIDER_ENDPOINTS = {"cloudflare": fake.url}

        assert fail("cloudflare", "api_token", config, secrets) == reason
