"""The VPN API: create, provision, router configuration, destroy; plan limit, refused public IPs, no key
in any answer or audit row (moto's fixed pre-shared key is the canary), constant list queries."""

from __future__ import annotations

import json

import pytest

from accounts.models import AuditEvent, Organization
from tests.connections.conftest import create_connection
from tests.vpn.conftest import MOTO_PSK, PUBLIC_IP, SUBNET
from vpn.models import VpnConnection

pytestmark = pytest.mark.django_db
BASE = "/api/v1/orgs/acme/vpn/"


def test_create_from_a_connection_then_the_same_network_again(api_as, onprem):
    client = api_as("provisioner")
    first = client.post(BASE, {"connection": "pve-lab"}, format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["status"] == "pending" and body["connections"] == ["pve-lab"]
    assert body["monthly_cost_usd"] == "36.50"
    again = client.post(BASE, {"onprem_subnet": SUBNET, "public_ip": PUBLIC_IP}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert VpnConnection.objects.count() == 1


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("10.1.2.3", "RFC 1918"), ("172.20.0.1", "RFC 1918"), ("192.168.1.1", "RFC 1918"),
        ("127.0.0.1", "loopback"), ("100.64.0.1", "carrier-grade NAT"), ("169.254.10.1", "link-local"),
        ("224.0.0.5", "multicast"), ("240.0.0.1", "reserved"), ("0.1.2.3", "reserved"),
        ("192.0.2.10", "documentation"), ("198.51.100.7", "documentation"), ("203.0.113.9", "documentation"),
        ("255.255.255.255", "broadcast"), ("not-an-ip", "IPv4"),
    ],
)  # fmt: skip
def test_refused_public_addresses_name_their_class(api_as, members, address, words):
    response = api_as("admin").post(BASE, {"onprem_subnet": SUBNET, "public_ip": address}, format="json")
    assert response.status_code == 400, response.content
    assert words in " ".join(response.json()["error"]["fields"]["public_ip"])
    assert not VpnConnection.objects.exists()


def test_other_plans_get_the_plan_message(api_as, org, members):
    Organization.objects.filter(pk=org.pk).update(plan="starter")
    response = api_as("admin").post(BASE, {"onprem_subnet": SUBNET, "public_ip": PUBLIC_IP}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "plan_limit"
    assert "need the Enterprise plan; 'acme' is on the Starter plan" in response.json()["error"]["message"]


def test_provision_download_destroy_without_a_key_anywhere(vpn_settings, api_as, vpn, onprem, caplog):
    client = api_as("provisioner")
    url = f"{BASE}{vpn.pk}/"
    provisioned = client.post(f"{url}provision/", format="json")
    assert provisioned.status_code == 200, provisioned.content
    assert provisioned.json()["status"] == "active"
    assert provisioned.json()["tunnels"][0]["psk_fingerprint"]
    assert MOTO_PSK not in provisioned.content.decode()
    assert MOTO_PSK not in client.get(url).content.decode() and MOTO_PSK not in client.get(BASE).content.decode()

    bad = client.get(f"{url}router-config/", {"vendor": "cisco"})
    assert bad.status_code == 400 and "vendor" in bad.json()["error"]["fields"]
    download = client.get(f"{url}router-config/", {"vendor": "strongswan"})
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment; filename=")
    assert MOTO_PSK in download.content.decode()

    refused = client.post(f"{url}destroy/", format="json")
    assert refused.status_code == 400 and "pve-lab" in refused.json()["error"]["message"]
    onprem.delete()
    destroyed = client.post(f"{url}destroy/", format="json")
    assert destroyed.status_code == 200 and destroyed.json()["status"] == "destroyed"

    events = AuditEvent.objects.filter(target_id=str(vpn.pk))
    assert "vpn.router_config_downloaded" in set(events.values_list("action", flat=True))
    assert MOTO_PSK not in json.dumps(list(events.values("details", "target_repr")), default=str)
    assert MOTO_PSK not in caplog.text


def test_health_check_api(vpn_settings, api_as, vpn):
    client = api_as("admin")
    assert client.post(f"{BASE}{vpn.pk}/health-check/").status_code == 400  # nothing to check yet
    client.post(f"{BASE}{vpn.pk}/provision/")
    response = client.post(f"{BASE}{vpn.pk}/health-check/")
    assert response.status_code == 200
    assert [t["status"] for t in response.json()["health"]["tunnels"]] == ["AVAILABLE", "AVAILABLE"]


def test_list_queries_do_not_grow_with_vpns(api_as, org, members, django_assert_max_num_queries):
    client = api_as("viewer")
    for i in range(2):
        VpnConnection.objects.create(org=org, onprem_subnet=f"192.168.{i}.0/24", public_ip="81.2.69.142")
    with django_assert_max_num_queries(12) as few:
        assert client.get(BASE).status_code == 200
    for i in range(2, 12):
        VpnConnection.objects.create(org=org, onprem_subnet=f"192.168.{i}.0/24", public_ip="81.2.69.142")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(BASE).json()["results"]) == 12


def test_bad_filters_and_non_onprem_connections_are_400(api_as, org, members):
    client = api_as("admin")
    assert client.get(BASE, {"status": "bogus"}).status_code == 400
    for address in ("NÑ\x0bu\U000b3781", "999.1.1.1", "2001:db8::1"):  # schemathesis found the first as a 500
        response = client.get(BASE, {"public_ip": address})
        assert response.status_code == 400, (address, response.content[:200])
        assert "public_ip" in response.json()["error"]["fields"]
    assert client.get(BASE, {"public_ip": "81.2.69.142"}).status_code == 200
    create_connection(org, "github", name="gh-acme")
    response = client.post(BASE, {"connection": "gh-acme"}, format="json")
    assert response.status_code == 400
    assert "not an on-prem connection" in response.json()["error"]["fields"]["connection"][0]
    assert client.post(BASE, {"connection": "nope"}, format="json").status_code == 400
    assert client.post(BASE, {}, format="json").status_code == 400


def test_a_forged_forwarded_for_does_not_change_the_audited_address(vpn_settings, api_as, vpn, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    client = api_as("admin")
    client.post(f"{BASE}{vpn.pk}/provision/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.66")
    client.get(f"{BASE}{vpn.pk}/router-config/", {"vendor": "other"}, HTTP_X_FORWARDED_FOR="203.0.113.66")
    events = AuditEvent.objects.filter(target_id=str(vpn.pk), action__in=["vpn.provision_requested",
                                                                          "vpn.router_config_downloaded"])  # fmt: skip
    assert events.count() == 2
    assert set(events.values_list("client_ip", flat=True)) == {"127.0.0.1"}
