"""Which private networks a connection's outbound calls may reach.

A member typing a subnet into an on-prem connection opens nothing: the SSRF guard refuses private
addresses unless something the platform controls says they are reachable. Apps that provide such a
route register a source here; the VPN app registers "the subnet of this connection's *active*
site-to-site VPN". The operator's `NETGUARD_ALLOWED_NETWORKS` is separate and applies to every call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .models import Connection

PrivateNetworkSource = Callable[[Connection], Iterable[str]]
PRIVATE_NETWORK_SOURCES: list[PrivateNetworkSource] = []


def register_private_networks(source: PrivateNetworkSource) -> PrivateNetworkSource:
    """Register a function returning CIDRs that `connection`'s calls may reach right now."""
    PRIVATE_NETWORK_SOURCES.append(source)
    return source


def reachable_private_networks(connection: Connection) -> tuple[str, ...]:
    """The union of every registered source, in registration order, without duplicates."""
    networks: list[str] = []
    for source in PRIVATE_NETWORK_SOURCES:
        for cidr in source(connection) or ():
            if cidr and cidr not in networks:
                networks.append(str(cidr))
    return tuple(networks)
