"""Proxmox VE (connections/providers/proxmox.py): the check against a local HTTPS fake, and materialization."""

from __future__ import annotations

from connections.providers import get_provider
from tests.connections.provider_examples import valid_examples
from tests.connections.providers.checks_onprem import (
    _no_operator_allow_list,  # noqa: F401
    check,
    fail,
    loopback,  # noqa: F401
    point_at,
    proxmox_setup,
)
from tests.connections.providers.conftest import errors_of, materialized


def test_proxmox_sends_the_pveapitoken_header_and_reports_the_version(loopback):
    fake, config, secrets = proxmox_setup()
    with fake:
        config = point_at("proxmox", config, fake)

        result = check("proxmox", "api_token", config, secrets, trust=fake.ca_pem)

        assert result.message == f"Proxmox VE 8.2.4 at {fake.url} accepted API token 'terraform@pve!runner'."
        assert result.details == {"version": "8.2.4", "release": "8.2", "repoid": "faa83925c9641325"}
        (request,) = fake.requests
        assert request.path == "/api2/json/version"
        assert request.header("Authorization") == f"PVEAPIToken=terraform@pve!runner={secrets['token']}"


def test_proxmox_bad_token_fails_with_401(loopback):
    fake, config, secrets = proxmox_setup()
    with fake:
        config = point_at("proxmox", config, fake)
        secrets["token"] = "00000000-0000-4000-8000-000000000000"

        reason = fail("proxmox", "api_token", config, secrets, trust=fake.ca_pem)

        assert reason == "Proxmox VE refused API token 'terraform@pve!runner' (HTTP 401 authentication failure)."


# --- Cleaning and materialization -----------------------------------------------------------------


def test_partial_rotation_of_proxmox_password_does_not_need_the_username() -> None:
    proxmox = get_provider("proxmox")
    assert proxmox.clean("api_token", {}, {"ssh_password": "new password"}, partial=True)[1] == {
        "ssh_password": "new password"
    }
    config, secrets = valid_examples()["proxmox"]["api_token"]
    del config["ssh_username"]
    assert errors_of("proxmox", "api_token", config, secrets) == {
        "ssh_username": ["Required when an SSH password is set."]
    }


def test_proxmox_env_values() -> None:
    env = materialized("proxmox", "api_token").env
    assert env["PROXMOX_VE_API_TOKEN"] == "terraform@pve!runner=d6f3c2a1-5b4e-4c3d-8a9b-0c1d2e3f4a5b"
    assert env["PROXMOX_VE_ENDPOINT"] == "https://192.168.50.10:8006"
