"""VPN API serializers: shape only. No field reads a pre-shared key: the tunnels show addresses and a
fingerprint; the keys leave only inside a router configuration download."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from ..models import VpnConnection


class TunnelSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    outside_ip = serializers.CharField(allow_blank=True, help_text="The AWS endpoint of the tunnel.")
    inside_cidr = serializers.CharField(allow_blank=True, help_text="The tunnel's /30 (AWS side .1, router .2).")
    psk_fingerprint = serializers.CharField(allow_blank=True, help_text="Which key is stored, never the key.")


class VpnSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    name = serializers.CharField(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    tunnels = serializers.SerializerMethodField()
    monthly_cost_usd = serializers.DecimalField(
        source="monthly_cost", max_digits=10, decimal_places=2, read_only=True,
        help_text="Estimated: two tunnels x VPN_TUNNEL_HOURLY_PRICE x 730 h.",
    )  # fmt: skip
    connections = serializers.SerializerMethodField(help_text="On-prem connections on this (subnet, public IP).")
    connection = serializers.CharField(
        write_only=True, required=False,
        help_text="Create the VPN of this on-prem connection's network (instead of onprem_subnet + public_ip).",
    )  # fmt: skip

    class Meta:
        model = VpnConnection
        fields = [
            "id", "url", "name", "onprem_subnet", "public_ip", "router_vendor", "connection", "status",
            "status_display", "status_detail", "monthly_cost_usd", "tunnels", "connections", "region", "vpc_id",
            "vpc_cidr", "vpn_gateway_id", "customer_gateway_id", "vpn_connection_id", "route_table_ids", "health",
            "health_checked_at", "provisioned_at", "destroyed_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = [f for f in fields if f not in ("onprem_subnet", "public_ip", "router_vendor", "connection")]
        extra_kwargs = {
            "onprem_subnet": {"required": False, "validators": []},
            "public_ip": {"required": False, "validators": []},
            "router_vendor": {"required": False},
        }
        validators: list[Any] = []

    def get_url(self, vpn: VpnConnection) -> str:
        return reverse(
            "vpn-detail", kwargs={"org_slug": vpn.org.slug, "pk": vpn.pk}, request=self.context.get("request")
        )

    @extend_schema_field(TunnelSerializer(many=True))
    def get_tunnels(self, vpn: VpnConnection) -> list[dict[str, Any]]:
        return [
            {**tunnel, "psk_fingerprint": vpn.psk_fingerprints.get(f"tunnel{tunnel['number']}", "")}
            for tunnel in vpn.tunnels
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_connections(self, vpn: VpnConnection) -> list[str]:
        by_network = self.context.get("connections_by_network")
        if by_network is None:
            return list(vpn.connections_using().values_list("name", flat=True))
        return by_network.get((vpn.onprem_subnet, vpn.public_ip), [])

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("connection") and not (attrs.get("onprem_subnet") and attrs.get("public_ip")):
            raise serializers.ValidationError(
                {"connection": "Name an on-prem connection, or give onprem_subnet and public_ip."}
            )
        return attrs


class RouterConfigQuerySerializer(serializers.Serializer):
    vendor = serializers.CharField(help_text="pfsense, opnsense, openwrt, mikrotik, edgeos, strongswan or other.")
