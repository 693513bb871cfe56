"""VPN pages: list, detail, confirmations, the panel and badge on on-prem connections, the download."""

from __future__ import annotations

import pytest

from accounts.models import Organization, User
from tests.vpn.conftest import MOTO_PSK
from vpn import services
from vpn.models import VpnConnection

pytestmark = pytest.mark.django_db


def test_provision_from_the_connection_page_then_download_and_destroy(vpn_settings, client_as, org, onprem):
    client = client_as("provisioner")
    page = client.get("/o/acme/connections/pve-lab/").content.decode()
    assert "Site-to-site VPN" in page and "Provision VPN" in page and "No VPN" in page
    confirm = client.get("/o/acme/vpn/for/pve-lab/provision/").content.decode()
    assert "$36.50 per month" in confirm
    response = client.post("/o/acme/vpn/for/pve-lab/provision/")
    vpn = VpnConnection.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/o/acme/vpn/{vpn.pk}/"
    assert vpn.status == "active"
    detail = client.get(f"/o/acme/vpn/{vpn.pk}/").content.decode()
    assert "Health Check" in detail and "Router configuration" in detail and vpn.tunnel1_outside_ip in detail
    assert MOTO_PSK not in detail
    cards = client.get("/o/acme/connections/").content.decode()
    assert "VPN: Active" in cards and MOTO_PSK not in cards
    assert MOTO_PSK not in client.get("/o/acme/vpn/").content.decode()
    download = client.get(f"/o/acme/vpn/{vpn.pk}/router-config/pfsense/")
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    assert client.post(f"/o/acme/vpn/{vpn.pk}/health-check/").status_code == 302
    refused = client.post(f"/o/acme/vpn/{vpn.pk}/destroy/")
    assert refused.status_code == 200 and "pve-lab" in refused.content.decode()
    onprem.delete()
    assert client.post(f"/o/acme/vpn/{vpn.pk}/destroy/").status_code == 302
    vpn.refresh_from_db()
    assert vpn.status == "destroyed"


def test_viewers_see_status_but_no_buttons(client_as, vpn, onprem):
    page = client_as("viewer").get(f"/o/acme/vpn/{vpn.pk}/").content.decode()
    assert "Pending" in page and "Provision VPN" not in page and "Destroy" not in page
    assert "Provision VPN" not in client_as("viewer").get("/o/acme/connections/pve-lab/").content.decode()


def test_plan_message_on_other_plans(client_as, org, vpn):
    Organization.objects.filter(pk=org.pk).update(plan="starter")
    client = client_as("admin")
    assert "need the Enterprise plan" in client.get("/o/acme/vpn/").content.decode()
    response = client.post(f"/o/acme/vpn/{vpn.pk}/provision/")
    assert response.status_code == 200 and "need the Enterprise plan" in response.content.decode()
    vpn.refresh_from_db()
    assert vpn.status == "pending"


def test_admin_site_shows_the_vpn_without_keys(vpn_settings, members, vpn, client):
    services.do_request_provision(vpn, actor=members["admin"])
    operator = User.objects.create_superuser(email="ops@platform.test", password="x-very-long-password-1")
    client.force_login(operator)
    page = client.get(f"/admin/vpn/vpnconnection/{vpn.pk}/change/")
    assert page.status_code == 200
    assert MOTO_PSK not in page.content.decode() and "psk_envelope" not in page.content.decode()
    assert MOTO_PSK not in client.get("/admin/vpn/vpnconnection/").content.decode()


def test_vpn_list_page_queries_do_not_grow(client_as, org, onprem, django_assert_max_num_queries):
    client = client_as("viewer")
    VpnConnection.objects.create(org=org, onprem_subnet="192.168.1.0/24", public_ip="81.2.69.142")
    with django_assert_max_num_queries(30) as few:
        assert client.get("/o/acme/vpn/").status_code == 200
    for i in range(2, 12):
        VpnConnection.objects.create(org=org, onprem_subnet=f"192.168.{i}.0/24", public_ip="81.2.69.142")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get("/o/acme/vpn/")
    assert page.content.decode().count("81.2.69.142</code>") == 11
