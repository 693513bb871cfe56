"""The rules every on-premises check follows (OnPremProvider: Proxmox VE and vCenter alike), against local
HTTPS fakes; the providers' own checks are in test_kubernetes, test_proxmox and test_vcenter.

These endpoints are typed in by users, so besides success and the provider's own failure reasons the
tests prove the two safety rules around them: TLS is verified against the right CA (a wrong cluster
CA fails before any credential is sent), and an on-prem check may reach private addresses only in
the connection's own declared subnet.

About that subnet rule: the SSRF guard lets a connection's own networks open *site* networks
(RFC 1918, CGNAT, ULA) but never loopback, so a fake on 127.0.0.1 cannot prove it (a subnet of
127.0.0.0/8 is refused, which is tested too). The positive proof runs a fake on one of this host's
own site-local addresses when it has one, with no operator allow-list at all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from connections.providers import get_provider
from tests.connections.providers.checks_onprem import (
    RecordingContext,
    _no_operator_allow_list,  # noqa: F401
    check,
    context,
    fail,
    loopback,  # noqa: F401
    point_at,
    proxmox_setup,
    vcenter_setup,
)
from tests.fakes.http import site_local_addresses

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
def test_on_prem_checks_pass_their_own_subnet_to_the_guard(provider, loopback):
    fake, config, secrets = SETUPS[provider]()
    with fake:
        ctx = context(provider, fake.ca_pem, cls=RecordingContext)

        get_provider(provider).check(METHODS[provider], point_at(provider, config, fake), secrets, ctx)

        assert ctx.calls
        assert all(call["allowed_networks"] == (config["subnet"],) for call in ctx.calls)


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


def site_address() -> str:
    addresses = site_local_addresses()
    if not addresses:
        pytest.skip("this host has no RFC 1918/CGNAT/ULA address for a fake to listen on")
    return addresses[0]


def subnet_of(address: str) -> str:
    prefix = 64 if ":" in address else 24
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@pytest.mark.parametrize("provider", ["proxmox", "vcenter"])
def test_the_connections_own_subnet_opens_its_site_network(provider):
    address = site_address()
    fake, config, secrets = SETUPS[provider](host=address)
    with fake:
        config = {**point_at(provider, config, fake), "subnet": subnet_of(address)}

        check(provider, METHODS[provider], config, secrets, trust=fake.ca_pem)

        assert fake.requests  # reached with no operator allow-list: the subnet alone let it through


@pytest.mark.parametrize("provider", ["proxmox", "vcenter"])
def test_a_different_subnet_is_refused_and_the_fake_receives_nothing(provider):
    address = site_address()
    fake, config, secrets = SETUPS[provider](host=address)
    with fake:
        other = "fd99::/64" if ":" in address else "10.250.0.0/24"
        config = {**point_at(provider, config, fake), "subnet": other}

        reason = fail(provider, METHODS[provider], config, secrets, trust=fake.ca_pem)

        assert "outside the connection's allowed networks" in reason
        assert fake.requests == []
