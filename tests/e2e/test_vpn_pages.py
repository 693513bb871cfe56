"""The VPN in a real browser: a provisioner provisions the VPN of an on-prem connection from its page
(against moto), sees the badge, tunnels and cost without any key, and downloads a router configuration."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.connections.conftest import create_connection
from tests.fakes import moto_server as moto_fakes
from tests.vpn.conftest import MOTO_PSK, PUBLIC_IP, SUBNET
from vpn import router_configs

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

moto_server = moto_fakes.moto_server
moto = moto_fakes.moto


def test_provisioner_provisions_downloads_and_sees_no_key(page, live_server, login, org, members, moto, artifacts):
    create_connection(org, "proxmox", name="pve-lab", config={"subnet": SUBNET, "public_ip": PUBLIC_IP})
    login(page, members["provisioner"].email)
    page.goto(f"{live_server.url}/o/acme/connections/")
    expect(page.get_by_text("VPN: none")).to_be_visible()
    page.goto(f"{live_server.url}/o/acme/connections/pve-lab/")
    page.get_by_role("link", name="Provision VPN").click()
    expect(page.get_by_text("$36.50 per month")).to_be_visible()
    page.get_by_role("button", name="Provision VPN").click()
    expect(page.get_by_role("heading", name=f"VPN {SUBNET} via {PUBLIC_IP}")).to_be_visible()
    expect(page.locator(".page-subtitle .badge-vpn-active")).to_have_text("Active")
    expect(page.get_by_role("heading", name="Tunnels")).to_be_visible()
    assert MOTO_PSK not in page.content()
    page.screenshot(path=str(artifacts / "vpn-detail.png"), full_page=True)
    with page.expect_download() as info:
        page.get_by_role("link", name="pfSense").click()
    download = info.value
    assert download.suggested_filename == router_configs.VENDORS["pfsense"].filename
    page.get_by_role("button", name="Health Check").click()
    expect(page.get_by_text("Tunnel 1", exact=True)).to_be_visible()
    page.goto(f"{live_server.url}/o/acme/connections/")
    expect(page.get_by_text("VPN: Active")).to_be_visible()
    assert MOTO_PSK not in page.content()
