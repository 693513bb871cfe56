"""End to end with a real private peer (a network namespace, tests/fakes/netns.py): the hypervisor's
subnet is unreachable until its VPN is active (provisioned against moto), reachable while it is, and
unreachable again once the VPN is destroyed. The health check's hypervisor result comes from that test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connections.models import Connection
from connections.verification import run_check
from tests.fakes.netns import PrivatePeer, private_peer
from vpn import services
from vpn.choices import VpnStatusChoices
from vpn.models import VpnConnection

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
        name="pve-peer",
        config={
            "subnet": peer.subnet,
            "api_endpoint": f"https://{peer.address}:{peer.port}",
            "public_ip": "81.2.69.77",
        },
    )


def test_only_an_active_vpn_makes_the_hypervisor_reachable(vpn_settings, proxmox_at_peer, members, peer, settings):
    settings.NETGUARD_ALLOWED_NETWORKS = []
    run_check(proxmox_at_peer, actor=members["user"])
    assert peer.connections == 0  # typing the subnet opened nothing

    vpn = services.do_create_vpn_for_connection(proxmox_at_peer, actor=members["provisioner"])
    services.do_request_provision(vpn, actor=members["provisioner"])
    services.do_request_health_check(vpn, actor=members["provisioner"])
    vpn.refresh_from_db()
    assert vpn.status == VpnStatusChoices.ACTIVE
    assert peer.connections == 1  # the health check's hypervisor test went through the (active) VPN
    hypervisor = vpn.health["hypervisors"][0]
    assert hypervisor["connection"] == "pve-peer" and hypervisor["ok"] is False  # plain HTTP, not Proxmox

    VpnConnection.objects.filter(pk=vpn.pk).update(status=VpnStatusChoices.TUNNEL_DOWN)
    run_check(proxmox_at_peer, actor=members["user"])
    assert peer.connections == 1  # a VPN that is not active opens nothing
