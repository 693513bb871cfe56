"""What a site-to-site VPN backend does, as the `vpn` app sees it: plain data in, plain data out.

The `vpn` app decides *when* to provision, check or destroy a tunnel (status, policy, audit); this
module says *what* a backend does and hands out the one the platform runs on. Today that is AWS
Site-to-Site VPN in the platform's own account (`aws/vpn.py`); the app never names the cloud, so the
architecture rule "provider names live under providers/" holds and another backend would slot in here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "ProvisionResult",
    "TunnelDetails",
    "TunnelHealth",
    "VpnBackend",
    "VpnBackendError",
    "VpnHealth",
]


class VpnBackendError(Exception):
    """A backend call failed; `message` is the cloud's own words (code and message), without secrets.

    `step` names what was being done ("create the customer gateway"), so the status detail says where
    provisioning stopped; `transient` is True for transport failures (endpoint unreachable, timeout).
    """

    def __init__(self, message: str, *, step: str = "", transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.step = step
        self.transient = transient


@dataclass(frozen=True)
class TunnelDetails:
    """One tunnel as the customer's router must see it: the cloud endpoint, the /30 inside CIDR, the PSK."""

    outside_ip: str
    inside_cidr: str
    psk: str = field(repr=False)


@dataclass
class ProvisionResult:
    """What provisioning made (or found): resource ids, both tunnels, and what could not be done."""

    region: str
    vpc_id: str
    vpc_cidr: str
    vpn_gateway_id: str
    customer_gateway_id: str
    vpn_connection_id: str
    route_table_ids: list[str]
    tunnels: list[TunnelDetails]
    state: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TunnelHealth:
    outside_ip: str
    status: str  # UP / DOWN / the connection state when the cloud gives no telemetry
    detail: str = ""


@dataclass(frozen=True)
class VpnHealth:
    """The state of one VPN connection: `state` is the connection's, tunnels from telemetry when given."""

    vpn_connection_id: str
    state: str
    tunnels: list[TunnelHealth]
    telemetry: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "vpn_connection_id": self.vpn_connection_id,
            "state": self.state,
            "telemetry": self.telemetry,
            "tunnels": [{"outside_ip": t.outside_ip, "status": t.status, "detail": t.detail} for t in self.tunnels],
        }


class VpnBackend(Protocol):
    def provision(self, vpn_id: str, *, public_ip: str, onprem_subnet: str) -> ProvisionResult: ...

    def health(self, vpn_ids: list[str]) -> dict[str, VpnHealth]: ...

    def destroy(self, vpn_id: str, *, onprem_subnet: str) -> list[str]: ...

    def tagged_resources(self, vpn_id: str) -> list[tuple[str, str, str]]: ...
