"""Router configurations for the customer's side of a managed site-to-site VPN, one module per vendor.

Pure Python, no Django imports: the vpn app hands in a `RouterConfigInput` (decrypted keys included) and gets
back the text the user downloads. Every vendor module renders the same parameters (both tunnels, IKEv2 with
the cloud side's proposals and lifetimes, inside addresses, the route to the VPC, MSS clamping where needed,
numbered deployment steps) and escapes every user-controlled value for its own syntax, because a custom
pre-shared key may contain quotes, `$`, backslashes or XML markup.
"""

from __future__ import annotations

from collections.abc import Callable

from vpn.router_configs import (
    edgeos,
    mikrotik,
    openwrt,
    opnsense,
    other,
    pfsense,
    strongswan,
)
from vpn.router_configs.base import RouterConfigInput, Tunnel, Vendor

_RENDERERS: dict[str, tuple[Vendor, Callable[[RouterConfigInput], str]]] = {
    module.VENDOR.code: (module.VENDOR, module.render)
    for module in (pfsense, opnsense, openwrt, mikrotik, edgeos, strongswan, other)
}

VENDORS: dict[str, Vendor] = {code: vendor for code, (vendor, _render) in _RENDERERS.items()}


def render(vendor_code: str, data: RouterConfigInput) -> str:
    """The configuration text for `vendor_code` (one of VENDORS); KeyError for an unknown vendor."""
    _vendor, renderer = _RENDERERS[vendor_code]
    return renderer(data)


__all__ = ["VENDORS", "RouterConfigInput", "Tunnel", "Vendor", "render"]
