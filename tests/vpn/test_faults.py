"""Fault injection: the AWS endpoint stops in the middle of provisioning, a worker dies half-way; the
retry converges on the same resources (tagged with the VPN's id, looked up before created)."""

from __future__ import annotations

import boto3
import pytest
from django.conf import settings

from connections.providers.aws import clients
from connections.providers.aws.vpn import SiteToSiteVpn
from tests.vpn.conftest import tagged
from vpn import services
from vpn.choices import VpnStatusChoices
from vpn.provisioning import do_record_health, status_from_health
from vpn.tasks import provision_vpn_task, vpn_health_sweep

pytestmark = pytest.mark.django_db


def test_endpoint_down_mid_provisioning_then_retry(vpn_settings, own_moto, vpn, members, monkeypatch):
    start, stop = own_moto
    original = SiteToSiteVpn._find_customer_gateway
    calls = {"n": 0}

    def stop_first(self, vpn_id):
        calls["n"] += 1
        if calls["n"] == 1:
            stop()  # the gateway exists by now; AWS goes away before the customer gateway
        return original(self, vpn_id)

    monkeypatch.setattr(SiteToSiteVpn, "_find_customer_gateway", stop_first)
    services.do_request_provision(vpn, actor=members["provisioner"])
    vpn.refresh_from_db()
    assert vpn.status == VpnStatusChoices.ERROR
    assert "Could not look up the customer gateway" in vpn.status_detail
    assert "Could not connect to the endpoint URL" in vpn.status_detail

    start()
    ec2 = boto3.client("ec2", region_name="us-east-1")
    assert [len(v) for v in tagged(ec2, str(vpn.pk)).values()] == [1, 0, 0]
    services.do_request_provision(vpn, actor=members["provisioner"])
    vpn.refresh_from_db()
    assert vpn.status == VpnStatusChoices.ACTIVE, vpn.status_detail
    resources = tagged(ec2, str(vpn.pk))
    assert [len(v) for v in resources.values()] == [1, 1, 1]
    assert vpn.vpn_gateway_id == resources["vgw"][0][0]


class WorkerLost(BaseException):
    """What a killed worker looks like from inside the task: it never returns."""


def test_worker_killed_mid_task_and_redelivered(vpn_settings, ec2, vpn, members, monkeypatch):
    original = SiteToSiteVpn._find_connection

    def die(self, vpn_id):
        raise WorkerLost

    monkeypatch.setattr(SiteToSiteVpn, "_find_connection", die)
    with pytest.raises(WorkerLost):
        services.do_request_provision(vpn, actor=members["provisioner"])
    vpn.refresh_from_db()
    assert vpn.status == VpnStatusChoices.PROVISIONING  # the message was never acknowledged (acks_late)
    monkeypatch.setattr(SiteToSiteVpn, "_find_connection", original)
    assert provision_vpn_task.delay(str(vpn.pk), members["provisioner"].pk).get() == VpnStatusChoices.ACTIVE
    assert [len(v) for v in tagged(ec2, str(vpn.pk)).values()] == [1, 1, 1]


def test_sweep_asks_once_per_page_of_vpns(vpn_settings, org, members, monkeypatch):
    admin = members["admin"]
    vpns = [services.do_create_vpn(org, actor=admin, onprem_subnet=f"10.{i}.0.0/16", public_ip="81.2.69.160")
            for i in range(3)]  # fmt: skip
    for vpn in vpns:
        services.do_request_provision(vpn, actor=admin)
    client = clients.client("ec2", region="us-east-1", timeout=float(settings.CONNECTION_CHECK_TIMEOUT))
    calls = []
    client.meta.events.register("before-call.ec2.DescribeVpnConnections", lambda **kw: calls.append(1))
    assert vpn_health_sweep.delay().get() == 3
    assert len(calls) == 1
    for vpn in vpns:
        vpn.refresh_from_db()
        assert vpn.health["state"] == "available" and vpn.health_checked_at is not None


def test_tunnel_telemetry_decides_active_or_tunnel_down(vpn, members):
    up = {"state": "available", "telemetry": True, "tunnels": [{"status": "UP"}, {"status": "UP"}]}
    half = {"state": "available", "telemetry": True, "tunnels": [{"status": "UP"}, {"status": "DOWN"}]}
    assert status_from_health(vpn, up) == VpnStatusChoices.ACTIVE
    assert status_from_health(vpn, half) == VpnStatusChoices.TUNNEL_DOWN
    assert status_from_health(vpn, {"missing": True, "tunnels": []}) == VpnStatusChoices.ERROR
    vpn.status = VpnStatusChoices.ACTIVE
    vpn.save()
    vpn = do_record_health(vpn, half, actor=members["provisioner"])
    assert vpn.status == VpnStatusChoices.TUNNEL_DOWN and "tunnel 2 DOWN" in vpn.status_detail
