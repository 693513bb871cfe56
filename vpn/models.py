"""VpnConnection: one site-to-site VPN per (organization, on-prem subnet, router public IP).

On-prem connections (Proxmox, vCenter) hold `subnet` and `public_ip` in their public config; every
on-prem connection of the organization with the same pair uses the same VPN ("multiple Proxmox nodes
on the same network can reuse an existing VPN connection"), so the link is that pair, not a foreign
key: a connection edited to another subnet simply moves to that subnet's VPN.

The tunnels' pre-shared keys are encrypted like connection secrets (envelope encryption with the key
ring, bound to org, row and field) and leave the database only inside a router configuration download.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models

from accounts.models import OrgScopedModel
from connections.models import Connection

from .choices import HOURS_PER_MONTH, VpnStatusChoices

__all__ = ["VpnConnection", "connections_by_network", "estimated_monthly_cost"]


def estimated_monthly_cost() -> Decimal:
    """Two tunnels' hourly price x 730 h (AWS bills a VPN connection per hour; about $36.50 by default)."""
    price = Decimal(str(settings.VPN_TUNNEL_HOURLY_PRICE))
    return (2 * price * HOURS_PER_MONTH).quantize(Decimal("0.01"))


class VpnConnection(OrgScopedModel):
    """A site-to-site VPN between the platform's cloud network and one on-prem network.

    `status_detail` says what happened last in words (the cloud's own error message, what the tests'
    cloud could not do); `health` is the last health check's result (tunnels, hypervisor checks).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    onprem_subnet = models.CharField(max_length=43)
    public_ip = models.GenericIPAddressField(protocol="IPv4")
    router_vendor = models.CharField(max_length=32, blank=True)
    status = models.CharField(
        max_length=16, choices=VpnStatusChoices.choices, default=VpnStatusChoices.PENDING, db_index=True
    )
    status_detail = models.TextField(blank=True)
    region = models.CharField(max_length=32, blank=True)
    vpc_id = models.CharField(max_length=64, blank=True)
    vpc_cidr = models.CharField(max_length=43, blank=True)
    vpn_gateway_id = models.CharField(max_length=64, blank=True)
    customer_gateway_id = models.CharField(max_length=64, blank=True)
    vpn_connection_id = models.CharField(max_length=64, blank=True)
    route_table_ids = models.JSONField(default=list, blank=True)
    tunnel1_outside_ip = models.GenericIPAddressField(null=True, blank=True)
    tunnel1_inside_cidr = models.CharField(max_length=43, blank=True)
    tunnel2_outside_ip = models.GenericIPAddressField(null=True, blank=True)
    tunnel2_inside_cidr = models.CharField(max_length=43, blank=True)
    psk_envelope = models.TextField(blank=True, editable=False)
    psk_key_id = models.CharField(max_length=32, blank=True, editable=False)
    psk_fingerprints = models.JSONField(default=dict, blank=True, editable=False)
    health = models.JSONField(default=dict, blank=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    provisioned_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        default_related_name = "vpn_connections"
        ordering = ["onprem_subnet", "public_ip"]
        verbose_name = "VPN connection"
        constraints = [
            models.UniqueConstraint(fields=["org", "onprem_subnet", "public_ip"], name="vpn_unique_network_per_org")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """A readable, stable identifier: the on-prem network and the router it is reached through."""
        return f"{self.onprem_subnet} via {self.public_ip}"

    @property
    def slug(self) -> str:
        """An identifier safe in file names and router object names."""
        return "vpn-" + self.onprem_subnet.replace(".", "-").replace("/", "-")

    @property
    def monthly_cost(self) -> Decimal:
        return estimated_monthly_cost()

    @property
    def tunnels(self) -> list[dict[str, Any]]:
        """Public tunnel facts for pages and the API (never the keys)."""
        return [
            {"number": 1, "outside_ip": self.tunnel1_outside_ip or "", "inside_cidr": self.tunnel1_inside_cidr},
            {"number": 2, "outside_ip": self.tunnel2_outside_ip or "", "inside_cidr": self.tunnel2_inside_cidr},
        ]

    def connections_using(self) -> models.QuerySet[Connection]:
        """The organization's on-prem connections whose (subnet, public IP) is this VPN's."""
        return Connection.objects.filter(
            org_id=self.org_id,
            category="on_prem",
            config__subnet=self.onprem_subnet,
            config__public_ip=self.public_ip,
        ).order_by("name")


def connections_by_network(org_ids: Any) -> dict[tuple[str, str], list[str]]:
    """(subnet, public IP) -> names of the on-prem connections there, for a page of VPNs in one query."""
    rows = (
        Connection.objects.filter(org_id__in=org_ids, category="on_prem").order_by("name").values_list("name", "config")
    )
    out: dict[tuple[str, str], list[str]] = {}
    for name, config in rows:
        out.setdefault((str(config.get("subnet", "")), str(config.get("public_ip", ""))), []).append(name)
    return out
