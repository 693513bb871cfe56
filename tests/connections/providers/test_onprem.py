"""The rules every on-premises check follows (OnPremProvider: Proxmox VE and vCenter alike), against local
HTTPS fakes; the providers' own checks are in test_kubernetes, test_proxmox and test_vcenter.

These endpoints are typed in by users, so besides success and the provider's own failure reasons the
tests prove the two safety rules around them: TLS is verified against the right CA (a wrong cluster
CA fails before any credential is sent), and an on-prem check opens no private network of its own:
the subnet a member typed is not passed to the SSRF guard (only `ctx.allowed_networks`, which the
platform sets from an active VPN, is). The end-to-end proof with a real private peer in a network
namespace is in tests/connections/test_networks.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connections.providers import get_provider
from tests.connections.providers.checks_onprem import (
    RecordingContext,
    _no_operator_allow_list,  # noqa: F401
    context,
    fail,
    loopback,  # noqa: F401
    point_at,
    proxmox_setup,
    vcenter_setup,
)

SETUPS: dict[str, Callable[..., tuple[Any, dict[str, Any], dict[str, Any]]]] = {
    "proxmox": proxmox_setup,
    "vcenter": vcenter_setup,
}
METHODS = {"proxmox": "api_token", "vcenter": "password"}


@pytest.mark.parametrize("provider", ["proxmox", "vcenter"])
def test_on_prem_tls_is_verified(provider, loopback):
    fake, config, secrets = SETUPS[provider]()
    with fake:
        reason = fail(provider, METHODS[provider], point_at(provider, config, fake), secrets)  # CA not trusted

        assert "could not be verified" in reason
        assert fake.requests == []


# --- The subnet rule -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["proxmox", "vcenter"])
def test_on_prem_checks_open_no_network_of_their_own(provider, loopback):
    """The typed subnet is not handed to the guard: only what the platform put in ctx.allowed_networks counts."""
    fake, config, secrets = SETUPS[provider]()
    with fake:
        ctx = context(provider, fake.ca_pem, cls=RecordingContext)

        get_provider(provider).check(METHODS[provider], point_at(provider, config, fake), secrets, ctx)

        assert ctx.calls
        assert all(not call.get("allowed_networks") for call in ctx.calls)


@pytest.mark.parametrize("provider", ["proxmox", "vcenter"])
@pytest.mark.parametrize("subnet", ["127.0.0.0/8", "192.168.50.0/24"])
def test_a_connection_subnet_cannot_open_loopback(provider, subnet):
    """Without the operator allow-list, neither a subnet covering 127/8 nor another one reaches the fake."""
    fake, config, secrets = SETUPS[provider]()
    with fake:
        config = {**point_at(provider, config, fake), "subnet": subnet}

        reason = fail(provider, METHODS[provider], config, secrets, trust=fake.ca_pem)

        assert "Refused to connect to '127.0.0.1': it is 127.0.0.1, a loopback address" in reason
        assert fake.requests == []
        assert fake.tls_failures == []  # not even a TCP connection reached it
