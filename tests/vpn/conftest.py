"""Fixtures of the VPN tests: moto in server mode, an on-prem connection and its VPN."""

from __future__ import annotations

import socket

import boto3
import pytest

from connections.models import Connection
from connections.providers.aws import clients
from tests.connections.conftest import create_connection
from tests.fakes import moto_server as moto_fakes
from vpn import services
from vpn.models import VpnConnection

moto_server = moto_fakes.moto_server
moto = moto_fakes.moto

SUBNET = "192.168.50.0/24"
PUBLIC_IP = "81.2.69.142"
# moto's customer gateway configuration is a fixed template: this is the pre-shared key it hands out.
MOTO_PSK = "Iw2IAN9XUsQeYUrkMGP3kP59ugFDkfHg"


@pytest.fixture
def vpn_settings(settings, moto):
    settings.VPN_AWS_REGION = "us-east-1"
    settings.VPN_VPC_ID = ""
    settings.VPN_VPC_CIDR = "10.250.0.0/16"
    return settings


@pytest.fixture
def ec2(moto):
    return boto3.client("ec2", region_name="us-east-1")


@pytest.fixture
def onprem(org, members) -> Connection:
    return create_connection(org, "proxmox", name="pve-lab", config={"subnet": SUBNET, "public_ip": PUBLIC_IP})


@pytest.fixture
def vpn(org, members, onprem) -> VpnConnection:
    return services.do_create_vpn_for_connection(onprem, actor=members["provisioner"])


def tagged(ec2, vpn_id: str) -> dict[str, list[tuple[str, str]]]:
    """Every resource carrying the VPN's tag, by type: [(id, state)]."""
    out: dict[str, list[tuple[str, str]]] = {"vgw": [], "cgw": [], "vpn": []}
    key = "platform:vpn-id"

    def ours(item):
        return any(t["Key"] == key and t["Value"] == vpn_id for t in item.get("Tags", []))

    out["vgw"] = [(g["VpnGatewayId"], g["State"]) for g in ec2.describe_vpn_gateways()["VpnGateways"] if ours(g)]
    out["cgw"] = [
        (g["CustomerGatewayId"], g["State"]) for g in ec2.describe_customer_gateways()["CustomerGateways"] if ours(g)
    ]
    out["vpn"] = [
        (c["VpnConnectionId"], c["State"]) for c in ec2.describe_vpn_connections()["VpnConnections"] if ours(c)
    ]
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def own_moto(moto, monkeypatch):
    """A moto server of this test's own, on a fixed port, that the test may stop and start again
    (moto's state lives in this process, so a restarted server still knows what was created)."""
    # late import: moto.server is heavy and only these tests start their own
    from moto.server import ThreadedMotoServer

    port = _free_port()
    servers = []

    def start() -> None:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        servers.append(server)

    def stop() -> None:
        servers.pop().stop()

    start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    clients.clear()
    yield start, stop
    while servers:
        stop()
    clients.clear()
