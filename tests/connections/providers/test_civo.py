"""Civo (connections/providers/civo.py): the check against a local fake of its API."""

from __future__ import annotations

from tests.connections.providers.checks_saas import (
    example,
    fail,
    loopback_allowed,  # noqa: F401
    only_auth_headers,
    run,
)
from tests.fakes.saas import CivoFake


def test_civo_lists_regions_with_a_lowercase_bearer(settings):
    config, secrets = example("civo", "api_token")
    with CivoFake(secrets["token"]) as fake:
        settings.PROVIDER_ENDPOINTS = {"civo": fake.url}

        result = run("civo", "api_token", config, secrets)

        assert result.details == {"regions": ["LON1", "NYC1", "FRA1", "PHX1"]}
        assert fake.requests[0].path == "/v2/regions"
        only_auth_headers(fake.requests[0], {"Authorization": f"bearer {secrets['token']}"})


def test_civo_bad_key_and_unavailable_region(settings):
    config, secrets = example("civo", "api_token")
    with CivoFake(secrets["token"], regions=("LON1",)) as fake:
        settings.PROVIDER_ENDPOINTS = {"civo": fake.url}
        assert fail("civo", "api_token", config, {"token": "x" * 40}) == "The API key provided is invalid"
        reason = fail("civo", "api_token", config, secrets)
        assert reason == "Region FRA1 is not available to this account (available: LON1)."
