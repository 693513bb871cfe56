"""The VPN's hooks into connections: only an active VPN opens the on-prem subnet; the on-prem
connection's Test carries the VPN's tunnel status; the demo data has a VPN-ready on-prem connection."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import Organization
from connections.models import Connection
from connections.networks import reachable_private_networks
from connections.services import deletion_preview
from connections.verification import run_check
from tests.connections.conftest import create_connection
from tests.vpn.conftest import SUBNET
from vpn.choices import VpnStatusChoices
from vpn.models import VpnConnection

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status", [s for s in VpnStatusChoices.values if s != VpnStatusChoices.ACTIVE])
def test_only_an_active_vpn_opens_the_subnet(vpn, onprem, status):
    VpnConnection.objects.filter(pk=vpn.pk).update(status=status)
    assert reachable_private_networks(onprem) == ()


def test_an_active_vpn_opens_only_its_own_connections(vpn, onprem, org, other_org, members):
    VpnConnection.objects.filter(pk=vpn.pk).update(status=VpnStatusChoices.ACTIVE)
    assert reachable_private_networks(onprem) == (SUBNET,)
    # The same subnet and IP typed into another organization's connection opens nothing there.
    theirs = create_connection(other_org, "proxmox", name="pve-copy",
                               config={"subnet": SUBNET, "public_ip": onprem.config["public_ip"]})  # fmt: skip
    assert reachable_private_networks(theirs) == ()


def test_the_connection_test_reports_the_vpn(onprem, members, vpn):
    outcome = run_check(onprem, actor=members["user"])
    assert not outcome.ok
    assert "VPN: none is provisioned for 192.168.50.0/24" in outcome.message
    VpnConnection.objects.filter(pk=vpn.pk).update(
        status=VpnStatusChoices.TUNNEL_DOWN,
        health={"state": "available", "telemetry": True, "tunnels": [{"status": "UP"}, {"status": "DOWN"}]},
    )
    outcome = run_check(onprem, actor=members["user"])
    assert "VPN tunnel down: VPN connection available: tunnel 1 UP, tunnel 2 DOWN." in outcome.message


def test_seed_demo_adds_an_onprem_connection_ready_for_a_vpn(capsys):
    call_command("seed_demo", "--password", "demo-password-123")
    call_command("seed_demo", "--password", "demo-password-123")  # idempotent
    org = Organization.objects.get(slug="acme")
    connection = Connection.objects.get(org=org, name="proxmox-lab")
    assert connection.category == "on_prem" and org.plan == "enterprise"
    assert "proxmox-lab" in capsys.readouterr().out


def test_deleting_a_connection_keeps_its_vpn_and_says_so(onprem, vpn, members):
    preview = deletion_preview(onprem, actor=members["admin"]).as_dict()
    assert preview["can_delete"] is True
    assert "kept; destroy it on its page" in preview["will_delete"]["vpn"]["items"][0]
