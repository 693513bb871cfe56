"""DigitalOcean (connections/providers/digitalocean.py): the check against a local fake of its API."""

from __future__ import annotations

from tests.connections.providers.checks_saas import (
    example,
    fail,
    loopback_allowed,  # noqa: F401
    only_auth_headers,
    run,
)
from tests.fakes.saas import DigitalOceanFake


def test_digitalocean_reports_account_email_and_status(settings):
    config, secrets = example("digitalocean", "api_token")
    with DigitalOceanFake(secrets["token"]) as fake:
        settings.PROVIDER_ENDPOINTS = {"digitalocean": fake.url}

        result = run("digitalocean", "api_token", config, secrets)

        assert result.message == "Authenticated to DigitalOcean as sammy@example.com (account active)."
        assert result.details == {"email": "sammy@example.com", "status": "active", "team": "Acme Platform"}
        only_auth_headers(fake.requests[0], {"Authorization": f"Bearer {secrets['token']}"})
        assert fake.requests[0].path == "/v2/account"


def test_digitalocean_bad_token_and_locked_account(settings):
    config, secrets = example("digitalocean", "api_token")
    with DigitalOceanFake("dop_v1_" + "f" * 64) as fake:
        settings.PROVIDER_ENDPOINTS = {"digitalocean": fake.url}
        assert fail("digitalocean", "api_token", config, secrets) == "Unable to authenticate you"
    with DigitalOceanFake(secrets["token"], status="locked") as fake:
        settings.PROVIDER_ENDPOINTS = {"digitalocean": fake.url}
        assert fail("digitalocean", "api_token", config, secrets) == "Your account is locked: contact support."
