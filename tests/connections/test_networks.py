"""No member-controlled path into private networks, end to end with a real private peer.

The peer listens on a private address inside a network namespace (tests/fakes/netns.py). A member who
types that subnet into an on-prem connection and presses Test must not reach it; the operator's
allow-list (positive control) or a registered route (what an active VPN provides) does reach it, which
proves the peer would have counted the connection.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connections import networks
from connections.models import Connection
from connections.verification import run_check
from core.netguard import GuardError, guarded_request
from tests.fakes.netns import PrivatePeer, private_peer

pytestmark = pytest.mark.django_db


@pytest.fixture
def peer(tmp_path) -> Iterator[PrivatePeer]:
    with private_peer(tmp_path) as running:
        yield running


@pytest.fixture
def proxmox_at_peer(org, members, make_connection, peer) -> Connection:
    return make_connection(
        org,
        "proxmox",
        name="pve-lab",
        config={"subnet": peer.subnet, "api_endpoint": f"https://{peer.address}:{peer.port}"},
    )


def test_a_typed_subnet_does_not_open_the_guard(proxmox_at_peer, members, peer, settings):
    settings.NETGUARD_ALLOWED_NETWORKS = []
    outcome = run_check(proxmox_at_peer, actor=members["user"])
    assert not outcome.ok
    assert f"Refused to connect to '{peer.address}'" in outcome.message
    assert peer.connections == 0


def test_positive_control_the_operator_allowlist_reaches_the_peer(proxmox_at_peer, members, peer, settings):
    settings.NETGUARD_ALLOWED_NETWORKS = [peer.subnet]
    outcome = run_check(proxmox_at_peer, actor=members["user"])
    assert not outcome.ok  # the peer speaks plain HTTP, not the Proxmox API over TLS
    assert peer.connections == 1


def test_a_registered_route_opens_exactly_its_connections_subnet(proxmox_at_peer, members, peer, settings, monkeypatch):
    """What the VPN app registers: the subnet of an active VPN, for the connections that use it."""
    settings.NETGUARD_ALLOWED_NETWORKS = []
    monkeypatch.setattr(networks, "PRIVATE_NETWORK_SOURCES", [])
    networks.register_private_networks(lambda c: [c.config["subnet"]] if c.pk == proxmox_at_peer.pk else [])
    run_check(proxmox_at_peer, actor=members["user"])
    assert peer.connections == 1


def test_failures_at_a_private_address_do_not_tell_open_from_closed_ports(peer, settings):
    """Open port (plain HTTP where TLS is expected) and closed port must read the same."""
    settings.NETGUARD_ALLOWED_NETWORKS = []
    messages = []
    for port in (peer.port, peer.closed_port):
        with pytest.raises(GuardError) as caught:
            guarded_request("GET", f"https://{peer.address}:{port}/", allowed_networks=[peer.subnet], timeout=3)
        messages.append(str(caught.value).replace(str(port), "<port>"))
    assert peer.connections == 1  # the open port really was reached...
    assert messages[0] == messages[1]  # ...and still nothing tells it apart from the closed one
    assert messages[0] == f"could not get an HTTP response from {peer.address}:<port>"


def test_the_operator_sees_the_real_reason(peer, settings):
    """Networks the operator opened are theirs: detailed reasons help them debug their own network."""
    settings.NETGUARD_ALLOWED_NETWORKS = [peer.subnet]
    with pytest.raises(GuardError, match="refused the connection"):
        guarded_request("GET", f"https://{peer.address}:{peer.closed_port}/", timeout=3)
