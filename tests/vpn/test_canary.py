"""Canary pre-shared keys (with quote, shell and XML characters) go in through provisioning and come out
only in the router configuration download: never in a page, an API answer, an audit row or a log line."""

from __future__ import annotations

import json
import logging

import pytest

from accounts.models import AuditEvent
from connections.providers.aws import vpn as aws_vpn
from connections.providers.vpn_contract import TunnelDetails
from vpn import services
from vpn.models import VpnConnection

pytestmark = pytest.mark.django_db

CANARIES = ("canary1-'q\"$(id)<x>&amp;", "canary2-`rm -rf`;]]>")


@pytest.fixture
def canary_tunnels(monkeypatch):
    def parse(xml_text):
        return [
            TunnelDetails("52.2.144.13", "169.254.44.40/30", CANARIES[0]),
            TunnelDetails("52.2.144.14", "169.254.45.40/30", CANARIES[1]),
        ]

    monkeypatch.setattr(aws_vpn, "parse_customer_gateway_configuration", parse)


def _clean(text: str) -> None:
    for canary in CANARIES:
        assert canary not in text
        assert canary[:12] not in text


def test_canary_keys_appear_only_in_the_download(vpn_settings, canary_tunnels, vpn, members, api_as, client_as,
                                                  onprem, caplog):  # fmt: skip
    caplog.set_level(logging.DEBUG)
    services.do_request_provision(vpn, actor=members["provisioner"])
    vpn.refresh_from_db()
    assert vpn.status == "active", vpn.status_detail
    services.do_request_health_check(vpn, actor=members["provisioner"])
    row = VpnConnection.objects.filter(pk=vpn.pk).values().get()
    _clean(json.dumps({k: v for k, v in row.items() if k != "psk_envelope"}, default=str))
    _clean(row["psk_envelope"])

    api, pages = api_as("admin"), client_as("admin")
    for url in ("/api/v1/orgs/acme/vpn/", f"/api/v1/orgs/acme/vpn/{vpn.pk}/", "/api/schema/"):
        _clean(api.get(url).content.decode())
    for url in ("/o/acme/vpn/", f"/o/acme/vpn/{vpn.pk}/", f"/o/acme/vpn/{vpn.pk}/destroy/",
                "/o/acme/connections/", "/o/acme/connections/pve-lab/", "/o/acme/audit/"):  # fmt: skip
        _clean(pages.get(url).content.decode())

    download = api.get(f"/api/v1/orgs/acme/vpn/{vpn.pk}/router-config/", {"vendor": "strongswan"})
    assert download.status_code == 200
    body = download.content.decode()
    assert "canary1-" in body and "canary2-" in body  # each renderer escapes them its own way (its golden tests)

    _clean(json.dumps(list(AuditEvent.objects.values()), default=str))
    _clean(caplog.text)
