"""Scaleway (connections/providers/scaleway.py): the check against a local fake of its IAM API."""

from __future__ import annotations

from tests.connections.providers.checks_saas import (
    assert_no_secret,
    example,
    fail,
    loopback_allowed,  # noqa: F401
    only_auth_headers,
    run,
)
from tests.fakes.saas import ScalewayFake


def test_scaleway_reads_the_keys_own_record_with_x_auth_token(settings):
    config, secrets = example("scaleway", "api_token")
    fake_args = {"access_key": config["access_key"], "secret_key": secrets["secret_key"], "project_id": "p-1"}
    with ScalewayFake(**fake_args) as fake:
        settings.PROVIDER_ENDPOINTS = {"scaleway": fake.url}

        result = run("scaleway", "api_token", config, secrets)

        assert result.message == "Scaleway API key SCWABCDEFGHJKMNPQRST is valid."
        assert result.details["default_project_id"] == "p-1"
        (request,) = fake.requests
        assert request.path == "/iam/v1alpha1/api-keys/SCWABCDEFGHJKMNPQRST"
        only_auth_headers(request, {"X-Auth-Token": secrets["secret_key"]}, absent=("Authorization",))
        assert_no_secret(result, secrets)


def test_scaleway_wrong_secret_and_wrong_access_key(settings):
    config, secrets = example("scaleway", "api_token")
    with ScalewayFake(access_key=config["access_key"], secret_key=secrets["secret_key"], project_id="p") as fake:
        settings.PROVIDER_ENDPOINTS = {"scaleway": fake.url}
        wrong = {"secret_key": "00000000-0000-4000-8000-000000000000"}
        assert fail("scaleway", "api_token", config, wrong) == "authentication is denied"

        config["access_key"] = "SCWZZZZZZZZZZZZZZZZZ"
        reason = fail("scaleway", "api_token", config, secrets)
        assert reason == "Access key SCWZZZZZZZZZZZZZZZZZ not found (resource is not found)."
