"""The input types, the tunnel parameters every vendor renders, and helpers the vendor modules share.

The proposals and lifetimes are what the cloud side's site-to-site VPN accepts (and its documented
defaults): IKEv2, AES-256, SHA-256, Diffie-Hellman group 14 (MODP 2048) for both phases with PFS,
28,800 s for the IKE SA and 3,600 s for the child SA, dead-peer detection every 10 s with a 30 s
timeout. Route-based tunnels clamp TCP MSS to 1379 inside a 1436-byte tunnel MTU.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Tunnel:
    """One of the two tunnels the cloud side offers."""

    outside_ip: str  # the cloud endpoint's public IP
    inside_cidr: str  # a /30 like "169.254.10.0/30": cloud side .1, customer side .2
    psk: str


@dataclass(frozen=True)
class RouterConfigInput:
    """Everything a router configuration needs; `name` is sanitized per syntax before it becomes an identifier."""

    name: str
    customer_public_ip: str
    onprem_subnet: str
    vpc_cidr: str
    tunnels: tuple[Tunnel, Tunnel]


@dataclass(frozen=True)
class Vendor:
    """A downloadable configuration: `filename` is the suggested download name."""

    code: str
    label: str
    filename: str
    content_type: str


IKE_VERSION = 2
ENCRYPTION = "AES-256-CBC"
INTEGRITY = "SHA-256"
DH_GROUP = 14  # MODP 2048
IKE_LIFETIME = 28_800  # seconds
CHILD_LIFETIME = 3_600  # seconds
DPD_DELAY = 10  # seconds between dead-peer-detection probes
DPD_TIMEOUT = 30  # seconds without answer before the peer counts as dead
DPD_FAILURES = DPD_TIMEOUT // DPD_DELAY
TUNNEL_MTU = 1436
TCP_MSS = 1379

# A router stores the key on one line; control characters have no escape in most of these syntaxes.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class TunnelPlan:
    """One tunnel with everything derived from it: its number and both inside addresses."""

    number: int
    outside_ip: str
    psk: str
    inside_network: ipaddress.IPv4Network
    cloud_inside_ip: str  # .1 of the /30
    customer_inside_ip: str  # .2 of the /30

    @property
    def prefixlen(self) -> int:
        return self.inside_network.prefixlen

    @property
    def netmask(self) -> str:
        return str(self.inside_network.netmask)


@dataclass(frozen=True)
class Plan:
    """A validated, normalized `RouterConfigInput`: addresses parsed (so they cannot carry markup) and
    both tunnels expanded. Only `name` and the keys are free text, and every vendor escapes those."""

    name: str
    customer_public_ip: str
    onprem_subnet: ipaddress.IPv4Network
    vpc_cidr: ipaddress.IPv4Network
    tunnels: tuple[TunnelPlan, TunnelPlan]


def plan(data: RouterConfigInput) -> Plan:
    """Parse and check the input; ValueError names the first bad field (never a key's value)."""
    customer_ip = str(ipaddress.IPv4Address(data.customer_public_ip))
    onprem = ipaddress.IPv4Network(data.onprem_subnet, strict=False)
    vpc = ipaddress.IPv4Network(data.vpc_cidr, strict=False)
    if len(data.tunnels) != 2:
        raise ValueError("tunnels: exactly two are expected")
    tunnels = []
    for number, tunnel in enumerate(data.tunnels, start=1):
        network = ipaddress.IPv4Network(tunnel.inside_cidr, strict=False)
        if network.prefixlen != 30:
            raise ValueError(f"tunnel {number}: the inside CIDR must be a /30")
        if not tunnel.psk or _CONTROL.search(tunnel.psk):
            raise ValueError(f"tunnel {number}: the pre-shared key is empty or holds control characters")
        tunnels.append(
            TunnelPlan(
                number=number,
                outside_ip=str(ipaddress.IPv4Address(tunnel.outside_ip)),
                psk=tunnel.psk,
                inside_network=network,
                cloud_inside_ip=str(network.network_address + 1),
                customer_inside_ip=str(network.network_address + 2),
            )
        )
    name = _CONTROL.sub(" ", data.name).strip() or "vpn"
    return Plan(name, customer_ip, onprem, vpc, (tunnels[0], tunnels[1]))


def identifier(name: str, *, separator: str = "-", limit: int = 24) -> str:
    """`name` reduced to letters, digits and `separator` (safe as an identifier in every syntax here),
    never empty; the display name itself appears only in escaped descriptions and sanitized comments."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", separator, name).strip(separator)[:limit].strip(separator)
    return cleaned.lower() or "vpn"


def comment_text(text: str) -> str:
    """Free text made safe inside a one-line comment of any syntax here: no line breaks, and no `--`
    (which an XML comment may not contain). Used for the display name in headers."""
    return re.sub(r"-{2,}", "-", _CONTROL.sub(" ", text))


def numbered(steps: list[str]) -> list[str]:
    """Deployment steps as "1. ..." lines."""
    return [f"{index}. {step}" for index, step in enumerate(steps, start=1)]


def commented(lines: list[str], prefix: str = "# ") -> str:
    """Lines as comments in a `prefix` syntax (empty lines keep the bare marker)."""
    return "\n".join((prefix + line).rstrip() for line in lines)


def header(p: Plan, vendor_label: str) -> list[str]:
    """The opening lines every configuration shares: what it is for, and both tunnels at a glance."""
    lines = [
        f"Site-to-site VPN '{comment_text(p.name)}' - {vendor_label} configuration (customer side).",
        f"Customer gateway (this router's public IP): {p.customer_public_ip}",
        f"On-premises subnet: {p.onprem_subnet}   Platform VPC: {p.vpc_cidr}",
        f"IKEv{IKE_VERSION}: {ENCRYPTION} / {INTEGRITY} / DH group {DH_GROUP}; IKE lifetime {IKE_LIFETIME} s, "
        f"child SA {CHILD_LIFETIME} s with PFS group {DH_GROUP}; DPD {DPD_DELAY} s / {DPD_TIMEOUT} s.",
    ]
    for t in p.tunnels:
        lines.append(
            f"Tunnel {t.number}: endpoint {t.outside_ip}, inside {t.customer_inside_ip}/{t.prefixlen} "
            f"(cloud side {t.cloud_inside_ip})"
        )
    lines.append("This file contains the pre-shared keys: keep it secret.")
    return lines
