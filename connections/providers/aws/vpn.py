"""AWS Site-to-Site VPN in the platform's own account: provision, check and destroy one VPN.

Idempotency is the whole design: every resource is created with the VpnConnection's id as a tag
(`TagSpecifications`, so a resource never exists untagged) and looked up by that tag before it is
created, so a retried task, a worker killed half-way or a second click never makes a second one.
Deleted resources stay listed by EC2 for a while with state ``deleted``: lookups skip them.

moto (the tests' AWS) lacks a few calls (TESTING.md): ``CreateVpnConnectionRoute`` and
``EnableVgwRoutePropagation`` answer HTTP 500. They are caught *explicitly* (`_unsupported`), reported
as notes that end up in the VPN's status detail, and the route to the on-prem subnet is then added to
the VPC's route tables directly (``CreateRoute`` via the gateway), which has the same effect.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from ipaddress import ip_network
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from defusedxml import ElementTree

from core.masking import scrub

from ..vpn_contract import ProvisionResult, TunnelDetails, TunnelHealth, VpnBackendError, VpnHealth
from . import clients

__all__ = ["TAG_KEY", "VPC_TAG_KEY", "SiteToSiteVpn", "parse_customer_gateway_configuration"]

#: The tag on every resource of one VPN (value: the VpnConnection's id).
TAG_KEY = "platform:vpn-id"
#: The tag on the VPC the platform creates when no VPN_VPC_ID is configured (shared by every VPN).
VPC_TAG_KEY = "platform:vpn-vpc"
GONE = ("deleted", "deleting")
ATTACHMENT_WAIT_SECONDS = 60


def _tags(resource_type: str, vpn_id: str) -> list[dict[str, Any]]:
    return [
        {
            "ResourceType": resource_type,
            "Tags": [{"Key": TAG_KEY, "Value": vpn_id}, {"Key": "Name", "Value": f"platform-vpn-{vpn_id}"}],
        }
    ]


def _has_tag(item: dict[str, Any], vpn_id: str) -> bool:
    return any(t.get("Key") == TAG_KEY and t.get("Value") == vpn_id for t in item.get("Tags") or [])


def _unsupported(exc: Exception) -> bool:
    """moto answers an API it does not implement with an HTML 500 page, which botocore cannot parse."""
    if isinstance(exc, ResponseParserError):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return str(error.get("Code")) in ("InternalFailure", "NotImplemented", "500", "InternalError")
    return False


def _backend_error(step: str, exc: Exception) -> VpnBackendError:
    """AWS's own words (code: message), or the transport failure, for the status detail; never a secret."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code") or ""), str(error.get("Message") or "")
        return VpnBackendError(scrub(f"{code}: {message}" if message else code or str(exc)), step=step)
    transient = isinstance(exc, BotoCoreError)  # endpoint unreachable, timeout: worth a retry
    return VpnBackendError(scrub(f"Could not {step}: {exc}"), step=step, transient=transient)


def parse_customer_gateway_configuration(xml_text: str) -> list[TunnelDetails]:
    """Both tunnels from the VPN connection's ``CustomerGatewayConfiguration`` (AWS's "generic" XML).

    Parsed with defusedxml: the document comes from the network, so entity expansion is refused.
    The router's inside address is ``customer_gateway/tunnel_inside_address`` (the .2 of the /30).
    """
    try:
        root = ElementTree.fromstring(xml_text.strip())
    except Exception as exc:  # defusedxml raises its own errors for forbidden constructs
        raise VpnBackendError(
            f"The VPN connection's configuration could not be read ({exc.__class__.__name__})."
        ) from None
    tunnels = []
    for tunnel in root.findall("ipsec_tunnel"):
        outside = (tunnel.findtext("vpn_gateway/tunnel_outside_address/ip_address") or "").strip()
        inside_ip = (tunnel.findtext("vpn_gateway/tunnel_inside_address/ip_address") or "").strip()
        prefix = (tunnel.findtext("vpn_gateway/tunnel_inside_address/network_cidr") or "30").strip()
        psk = (tunnel.findtext("ike/pre_shared_key") or "").strip()
        if not (outside and inside_ip and psk):
            raise VpnBackendError("The VPN connection's configuration lacks a tunnel address or key.")
        inside = str(ip_network(f"{inside_ip}/{prefix}", strict=False))
        tunnels.append(TunnelDetails(outside_ip=outside, inside_cidr=inside, psk=psk))
    if len(tunnels) != 2:
        raise VpnBackendError(f"The VPN connection's configuration has {len(tunnels)} tunnels, not 2.")
    return tunnels


class SiteToSiteVpn:
    """One region of the platform's account; `vpc_id` empty: a VPC tagged `VPC_TAG_KEY` is found or made."""

    def __init__(self, *, region: str, vpc_id: str = "", vpc_cidr: str = "", timeout: float = 10.0) -> None:
        self.region = region
        self.vpc_id = vpc_id
        self.vpc_cidr = vpc_cidr or "10.250.0.0/16"
        self.ec2 = clients.client("ec2", region=region, timeout=timeout)

    # -- plumbing ----------------------------------------------------------------------------------

    def _call(self, step: str, method: str, **kwargs: Any) -> Any:
        """One EC2 call; AWS's error (code: message) or the transport failure becomes a VpnBackendError."""
        try:
            return getattr(self.ec2, method)(**kwargs)
        except (ClientError, BotoCoreError, ResponseParserError) as exc:
            raise _backend_error(step, exc) from None

    def _optional(self, step: str, method: str, notes: list[str], **kwargs: Any) -> bool:
        """A call the tests' AWS may not implement: False (and a note saying so) instead of an error."""
        try:
            getattr(self.ec2, method)(**kwargs)
            return True
        except (ClientError, BotoCoreError, ResponseParserError) as exc:
            if _unsupported(exc):
                notes.append(f"{method} is not supported by this AWS endpoint (HTTP 500); {step} was skipped.")
                return False
            raise _backend_error(step, exc) from None

    # -- lookups -----------------------------------------------------------------------------------

    def _vpc(self) -> tuple[str, str]:
        if self.vpc_id:
            vpcs = self._call("find the VPC", "describe_vpcs", VpcIds=[self.vpc_id])["Vpcs"]
            return vpcs[0]["VpcId"], vpcs[0]["CidrBlock"]
        found = self._call(
            "find the platform's VPN VPC", "describe_vpcs", Filters=[{"Name": f"tag:{VPC_TAG_KEY}", "Values": ["1"]}]
        )["Vpcs"]
        if found:
            return found[0]["VpcId"], found[0]["CidrBlock"]
        spec = [
            {
                "ResourceType": "vpc",
                "Tags": [{"Key": VPC_TAG_KEY, "Value": "1"}, {"Key": "Name", "Value": "platform-vpn"}],
            }
        ]
        vpc = self._call("create the VPN VPC", "create_vpc", CidrBlock=self.vpc_cidr, TagSpecifications=spec)["Vpc"]
        return vpc["VpcId"], vpc["CidrBlock"]

    def _live(self, items: Iterable[dict[str, Any]], vpn_id: str) -> list[dict[str, Any]]:
        return [i for i in items if _has_tag(i, vpn_id) and i.get("State") not in GONE]

    def _find_gateway(self, vpn_id: str) -> dict[str, Any] | None:
        found = self._call(
            "look up the VPN gateway", "describe_vpn_gateways", Filters=[{"Name": f"tag:{TAG_KEY}", "Values": [vpn_id]}]
        )["VpnGateways"]
        live = self._live(found, vpn_id)
        return live[0] if live else None

    def _find_customer_gateway(self, vpn_id: str) -> dict[str, Any] | None:
        # EC2 ignores tag: filters on DescribeCustomerGateways in moto: filter on the tags ourselves.
        found = self._call("look up the customer gateway", "describe_customer_gateways")["CustomerGateways"]
        live = self._live(found, vpn_id)
        return live[0] if live else None

    def _find_connection(self, vpn_id: str) -> dict[str, Any] | None:
        found = self._call(
            "look up the VPN connection",
            "describe_vpn_connections",
            Filters=[{"Name": f"tag:{TAG_KEY}", "Values": [vpn_id]}],
        )["VpnConnections"]
        live = self._live(found, vpn_id)
        return live[0] if live else None

    def _route_tables(self, vpc_id: str) -> list[dict[str, Any]]:
        return self._call(
            "list the VPC's route tables", "describe_route_tables", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
        )["RouteTables"]

    # -- provision ---------------------------------------------------------------------------------

    def provision(self, vpn_id: str, *, public_ip: str, onprem_subnet: str) -> ProvisionResult:
        """Gateway attached to the VPC, customer gateway, VPN connection (static routes), route to the
        on-prem subnet, propagation to the VPC's route tables. Each step finds before it creates."""
        notes: list[str] = []
        vpc_id, vpc_cidr = self._vpc()
        gateway = (
            self._find_gateway(vpn_id)
            or self._call(
                "create the VPN gateway",
                "create_vpn_gateway",
                Type="ipsec.1",
                TagSpecifications=_tags("vpn-gateway", vpn_id),
            )["VpnGateway"]
        )
        vgw_id = gateway["VpnGatewayId"]
        attached = any(
            a.get("VpcId") == vpc_id and a.get("State") in ("attached", "attaching")
            for a in gateway.get("VpcAttachments") or []
        )
        if not attached:
            self._call("attach the VPN gateway to the VPC", "attach_vpn_gateway", VpcId=vpc_id, VpnGatewayId=vgw_id)
            self._wait_attachment(vpn_id, vpc_id, "attached")
        customer = (
            self._find_customer_gateway(vpn_id)
            or self._call(
                "create the customer gateway",
                "create_customer_gateway",
                Type="ipsec.1",
                PublicIp=public_ip,
                BgpAsn=65000,
                TagSpecifications=_tags("customer-gateway", vpn_id),
            )["CustomerGateway"]
        )
        connection = (
            self._find_connection(vpn_id)
            or self._call(
                "create the VPN connection",
                "create_vpn_connection",
                Type="ipsec.1",
                CustomerGatewayId=customer["CustomerGatewayId"],
                VpnGatewayId=vgw_id,
                Options={"StaticRoutesOnly": True},
                TagSpecifications=_tags("vpn-connection", vpn_id),
            )["VpnConnection"]
        )
        vpn_connection_id = connection["VpnConnectionId"]
        routes = connection.get("Routes") or []
        if not any(r.get("DestinationCidrBlock") == onprem_subnet and r.get("State") != "deleted" for r in routes):
            self._optional(
                "the static route to the on-prem subnet",
                "create_vpn_connection_route",
                notes,
                VpnConnectionId=vpn_connection_id,
                DestinationCidrBlock=onprem_subnet,
            )
        table_ids = self._propagate(vpc_id, vgw_id, onprem_subnet, notes)
        xml = connection.get("CustomerGatewayConfiguration") or ""
        if not xml:
            raise VpnBackendError(
                "AWS returned no customer gateway configuration yet.", step="read the tunnels", transient=True
            )
        return ProvisionResult(
            region=self.region,
            vpc_id=vpc_id,
            vpc_cidr=vpc_cidr,
            vpn_gateway_id=vgw_id,
            customer_gateway_id=customer["CustomerGatewayId"],
            vpn_connection_id=vpn_connection_id,
            route_table_ids=table_ids,
            tunnels=parse_customer_gateway_configuration(xml),
            state=str(connection.get("State") or ""),
            notes=notes,
        )

    def _propagate(self, vpc_id: str, vgw_id: str, onprem_subnet: str, notes: list[str]) -> list[str]:
        """Route propagation from the gateway to every route table of the VPC; where the endpoint cannot
        propagate, a static route to the on-prem subnet through the gateway instead (once per table)."""
        table_ids = []
        for table in self._route_tables(vpc_id):
            table_id = table["RouteTableId"]
            table_ids.append(table_id)
            if any(p.get("GatewayId") == vgw_id for p in table.get("PropagatingVgws") or []):
                continue
            fallback: list[str] = []
            if self._optional(
                "route propagation", "enable_vgw_route_propagation", fallback, RouteTableId=table_id, GatewayId=vgw_id
            ):
                continue
            if fallback and fallback[0] not in notes:
                notes.append(
                    fallback[0] + " A static route to the on-prem subnet was added to the route tables instead."
                )
            if not any(r.get("DestinationCidrBlock") == onprem_subnet for r in table.get("Routes") or []):
                self._call(
                    "add the route to the on-prem subnet",
                    "create_route",
                    RouteTableId=table_id,
                    DestinationCidrBlock=onprem_subnet,
                    GatewayId=vgw_id,
                )
        return table_ids

    # -- health ------------------------------------------------------------------------------------

    def health(self, vpn_ids: list[str], page_size: int = 200) -> dict[str, VpnHealth]:
        """The state of many VPNs, keyed by our VPN id: one DescribeVpnConnections per `page_size` ids
        (the API has no NextToken; a tag filter with up to 200 values is one request), never one per VPN."""
        out: dict[str, VpnHealth] = {}
        for start in range(0, len(vpn_ids), page_size):
            page = vpn_ids[start : start + page_size]
            found = self._call(
                "describe the VPN connections",
                "describe_vpn_connections",
                Filters=[{"Name": f"tag:{TAG_KEY}", "Values": page}],
            )["VpnConnections"]
            for item in found:
                vpn_id = next((t["Value"] for t in item.get("Tags") or [] if t.get("Key") == TAG_KEY), "")
                if vpn_id and (vpn_id not in out or item.get("State") not in GONE):
                    out[vpn_id] = _health_of(item)
        return out

    # -- destroy -----------------------------------------------------------------------------------

    def destroy(self, vpn_id: str, *, onprem_subnet: str) -> list[str]:
        """Reverse order: routes, VPN connection, propagation, detach and delete the gateway, customer
        gateway. Each step looks first, so running it again (or after a half-done run) is harmless."""
        notes: list[str] = []
        connection = self._find_connection(vpn_id)
        if connection is not None:
            if any(r.get("DestinationCidrBlock") == onprem_subnet for r in connection.get("Routes") or []):
                self._optional(
                    "the static route removal",
                    "delete_vpn_connection_route",
                    notes,
                    VpnConnectionId=connection["VpnConnectionId"],
                    DestinationCidrBlock=onprem_subnet,
                )
            self._call(
                "delete the VPN connection", "delete_vpn_connection", VpnConnectionId=connection["VpnConnectionId"]
            )
        gateway = self._find_gateway(vpn_id)
        if gateway is not None:
            vgw_id = gateway["VpnGatewayId"]
            for attachment in gateway.get("VpcAttachments") or []:
                if attachment.get("State") in ("attached", "attaching"):
                    self._unroute(attachment["VpcId"], vgw_id, onprem_subnet, notes)
                    self._call(
                        "detach the VPN gateway", "detach_vpn_gateway", VpcId=attachment["VpcId"], VpnGatewayId=vgw_id
                    )
                    self._wait_attachment(vpn_id, attachment["VpcId"], "detached")
            self._call("delete the VPN gateway", "delete_vpn_gateway", VpnGatewayId=vgw_id)
        customer = self._find_customer_gateway(vpn_id)
        if customer is not None:
            self._call(
                "delete the customer gateway",
                "delete_customer_gateway",
                CustomerGatewayId=customer["CustomerGatewayId"],
            )
        return notes

    def _unroute(self, vpc_id: str, vgw_id: str, onprem_subnet: str, notes: list[str]) -> None:
        for table in self._route_tables(vpc_id):
            table_id = table["RouteTableId"]
            if any(p.get("GatewayId") == vgw_id for p in table.get("PropagatingVgws") or []):
                self._optional(
                    "route propagation removal",
                    "disable_vgw_route_propagation",
                    notes,
                    RouteTableId=table_id,
                    GatewayId=vgw_id,
                )
            for route in table.get("Routes") or []:
                if route.get("DestinationCidrBlock") == onprem_subnet and route.get("GatewayId") == vgw_id:
                    self._call(
                        "delete the route to the on-prem subnet",
                        "delete_route",
                        RouteTableId=table_id,
                        DestinationCidrBlock=onprem_subnet,
                    )

    def _wait_attachment(
        self, vpn_id: str, vpc_id: str, state: str, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        """Attaching and detaching take AWS seconds, and propagation (or deletion) needs them finished:
        poll briefly, then say so (a retry picks up from there)."""
        deadline = time.monotonic() + ATTACHMENT_WAIT_SECONDS
        while time.monotonic() < deadline:
            gateway = self._find_gateway(vpn_id)
            attachments = [a for a in (gateway or {}).get("VpcAttachments") or [] if a.get("VpcId") == vpc_id]
            if gateway is None or all(a.get("State") == state for a in attachments):
                return
            sleep(2)
        verb = "attach" if state == "attached" else "detach"
        raise VpnBackendError(
            f"The VPN gateway is still {verb}ing; try again in a minute.",
            step=f"{verb} the VPN gateway",
            transient=True,
        )

    def tagged_resources(self, vpn_id: str) -> list[tuple[str, str, str]]:
        """(type, id, state) of every resource carrying this VPN's tag, deleted ones included (for audits and tests)."""
        rows: list[tuple[str, str, str]] = []
        gateways = self._call("list VPN gateways", "describe_vpn_gateways")["VpnGateways"]
        rows += [("vpn-gateway", g["VpnGatewayId"], g.get("State", "")) for g in gateways if _has_tag(g, vpn_id)]
        customers = self._call("list customer gateways", "describe_customer_gateways")["CustomerGateways"]
        rows += [
            ("customer-gateway", c["CustomerGatewayId"], c.get("State", "")) for c in customers if _has_tag(c, vpn_id)
        ]
        connections = self._call("list VPN connections", "describe_vpn_connections")["VpnConnections"]
        rows += [
            ("vpn-connection", c["VpnConnectionId"], c.get("State", "")) for c in connections if _has_tag(c, vpn_id)
        ]
        return rows


def _health_of(item: dict[str, Any]) -> VpnHealth:
    """Tunnel states from VgwTelemetry when AWS gives it; otherwise both tunnels carry the connection state."""
    state = str(item.get("State") or "")
    telemetry = item.get("VgwTelemetry") or []
    if telemetry:
        tunnels = [
            TunnelHealth(
                outside_ip=str(t.get("OutsideIpAddress") or ""),
                status=str(t.get("Status") or "UNKNOWN"),
                detail=str(t.get("StatusMessage") or ""),
            )
            for t in telemetry[:2]
        ]
    else:
        tunnels = [
            TunnelHealth(
                outside_ip="", status=state.upper() or "UNKNOWN", detail="No tunnel telemetry: the connection's state."
            )
        ] * 2
    return VpnHealth(
        vpn_connection_id=str(item.get("VpnConnectionId") or ""),
        state=state,
        tunnels=tunnels,
        telemetry=bool(telemetry),
    )
