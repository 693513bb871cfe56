"""Provision, provision again, destroy: against moto in server mode (real HTTP, AWS_ENDPOINT_URL)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from connections.networks import reachable_private_networks
from tests.vpn.conftest import MOTO_PSK, SUBNET, tagged
from vpn import services
from vpn.choices import VpnStatusChoices
from vpn.models import VpnConnection

pytestmark = pytest.mark.django_db


def test_provision_creates_one_of_each_resource_and_opens_the_subnet(vpn_settings, ec2, vpn, members, onprem):
    assert reachable_private_networks(onprem) == ()
    services.do_request_provision(vpn, actor=members["provisioner"])
    vpn.refresh_from_db()
    assert vpn.status == VpnStatusChoices.ACTIVE, vpn.status_detail
    assert "create_vpn_connection_route is not supported" in vpn.status_detail
    assert vpn.vpn_gateway_id.startswith("vgw-") and vpn.customer_gateway_id.startswith("cgw-")
    assert vpn.vpn_connection_id.startswith("vpn-") and vpn.vpc_id.startswith("vpc-") and vpn.region == "us-east-1"
    assert vpn.tunnel1_outside_ip and vpn.tunnel1_inside_cidr.endswith("/30")
    assert MOTO_PSK not in vpn.psk_envelope and set(vpn.psk_fingerprints) == {"tunnel1", "tunnel2"}
    resources = tagged(ec2, str(vpn.pk))
    assert [len(resources[k]) for k in ("vgw", "cgw", "vpn")] == [1, 1, 1]
    gateway = ec2.describe_vpn_gateways(VpnGatewayIds=[vpn.vpn_gateway_id])["VpnGateways"][0]
    assert gateway["VpcAttachments"] == [{"VpcId": vpn.vpc_id, "State": "attached"}]
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpn.vpc_id]}])["RouteTables"]
    assert any(
        r.get("DestinationCidrBlock") == SUBNET and r.get("GatewayId") == vpn.vpn_gateway_id
        for t in tables
        for r in t["Routes"]
    )
    assert reachable_private_networks(onprem) == (SUBNET,)


def test_provision_again_makes_nothing_new(vpn_settings, ec2, vpn, members):
    services.do_request_provision(vpn, actor=members["provisioner"])
    first = tagged(ec2, str(vpn.pk))
    vpn.refresh_from_db()
    services.do_request_provision(vpn, actor=members["admin"])
    vpn.refresh_from_db()
    assert vpn.status == VpnStatusChoices.ACTIVE
    assert tagged(ec2, str(vpn.pk)) == first
    assert len(ec2.describe_vpcs(Filters=[{"Name": "tag:platform:vpn-vpc", "Values": ["1"]}])["Vpcs"]) == 1


def test_destroy_is_refused_while_connections_use_it(vpn_settings, vpn, members, onprem):
    services.do_request_provision(vpn, actor=members["provisioner"])
    with pytest.raises(ValidationError) as exc:
        services.do_request_destroy(vpn, actor=members["provisioner"])
    assert "pve-lab" in str(exc.value)
    vpn.refresh_from_db()
    assert vpn.status == VpnStatusChoices.ACTIVE


def test_destroy_leaves_no_live_tagged_resource_and_is_idempotent(vpn_settings, ec2, vpn, members, onprem):
    services.do_request_provision(vpn, actor=members["provisioner"])
    onprem.delete()
    vpn.refresh_from_db()
    services.do_request_destroy(vpn, actor=members["provisioner"])
    vpn.refresh_from_db()
    assert vpn.status == VpnStatusChoices.DESTROYED, vpn.status_detail
    assert not vpn.psk_envelope and not vpn.vpn_connection_id
    resources = tagged(ec2, str(vpn.pk))
    states = {state for rows in resources.values() for _id, state in rows}
    tables = ec2.describe_route_tables()["RouteTables"]
    assert not any(r.get("DestinationCidrBlock") == SUBNET for t in tables for r in t["Routes"])
    assert states == {"deleted"} and all(resources.values())
    # Destroying again (a retried task) finds nothing to delete and says so calmly.
    VpnConnection.objects.filter(pk=vpn.pk).update(status=VpnStatusChoices.ACTIVE)
    vpn.refresh_from_db()
    services.do_request_destroy(vpn, actor=members["admin"])
    vpn.refresh_from_db()
    assert vpn.status == VpnStatusChoices.DESTROYED
    assert tagged(ec2, str(vpn.pk)) == resources
    actions = list(AuditEvent.objects.filter(target_id=str(vpn.pk)).values_list("action", flat=True))
    assert "vpn.destroyed" in actions and "vpn.provisioned" in actions


def test_health_check_reads_the_connection_state_without_telemetry(vpn_settings, vpn, members, onprem):
    services.do_request_provision(vpn, actor=members["provisioner"])
    vpn.refresh_from_db()
    services.do_request_health_check(vpn, actor=members["provisioner"])
    vpn.refresh_from_db()
    assert vpn.health["telemetry"] is False
    assert [t["status"] for t in vpn.health["tunnels"]] == ["AVAILABLE", "AVAILABLE"]
    assert vpn.health["hypervisors"][0]["connection"] == "pve-lab"
    assert vpn.health["hypervisors"][0]["ok"] is False  # no Proxmox at 192.168.50.10: its test says why
    assert "VPN active" in vpn.health["hypervisors"][0]["message"]
    assert vpn.status == VpnStatusChoices.ACTIVE
