"""The VPN role table (README "Roles"): everyone sees VPNs; provisioners and admins provision, destroy,
check and download router configurations; another organization's VPN is a 404 (tests/permissions.py)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Organization
from accounts.policy import Action
from tests.permissions import Case, PermissionMatrix
from vpn import services
from vpn.models import VpnConnection

API = "/api/v1/orgs/{org}/vpn/"
VPN = "/api/v1/orgs/{org}/vpn/{vpn}/"
PAGE = "/o/{org}/vpn/{vpn}/"


class TestVpnPermissions(PermissionMatrix):
    cases = [
        Case.api("get", API, Action.VIEW),
        Case.api("get", VPN, Action.VIEW),
        Case.api("post", API, Action.MANAGE_VPN, body={"onprem_subnet": "192.168.77.0/24", "public_ip": "81.2.69.99"}),
        Case.api("post", f"{VPN}provision/", Action.MANAGE_VPN, ok=200),
        Case.api("post", f"{VPN}health-check/", Action.MANAGE_VPN, ok=200),
        Case.api("post", f"{VPN}destroy/", Action.MANAGE_VPN, ok=200),
        Case.api("get", f"{VPN}router-config/?vendor=pfsense", Action.DOWNLOAD_ROUTER_CONFIG),
        Case.page("get", "/o/{org}/vpn/", Action.VIEW),
        Case.page("get", PAGE, Action.VIEW),
        Case.page("get", f"{PAGE}provision/", Action.MANAGE_VPN),
        Case.page("post", f"{PAGE}provision/", Action.MANAGE_VPN),
        Case.page("post", f"{PAGE}health-check/", Action.MANAGE_VPN),
        Case.page("post", f"{PAGE}destroy/", Action.MANAGE_VPN),
        Case.page("get", f"{PAGE}router-config/strongswan/", Action.DOWNLOAD_ROUTER_CONFIG, ok=200),
    ]
    refused_before_lookup = frozenset({"vpn"})

    @pytest.fixture(autouse=True)
    def _cloud(self, vpn_settings):
        """moto for the provisioning in objects() and the cases."""

    def objects(self, org: Organization) -> dict[str, Any]:
        admin = org.memberships.get(role="admin").user
        vpn = services.do_create_vpn(org, actor=admin, onprem_subnet="192.168.88.0/24", public_ip="81.2.69.88")
        services.do_request_provision(vpn, actor=admin)
        return {"vpn": str(vpn.pk)}

    def snapshot(self, org: Organization) -> Any:
        return sorted(VpnConnection.objects.filter(org=org).values_list("onprem_subnet", "status", "vpn_connection_id"))
