"""Any other IPsec router: a plain-text summary of every parameter, to enter by hand.

Nothing is interpreted here, so the keys appear verbatim (between the markers, never trimmed): a reader
copies them character for character.
"""

from __future__ import annotations

from vpn.router_configs.base import (
    CHILD_LIFETIME,
    DH_GROUP,
    DPD_DELAY,
    DPD_TIMEOUT,
    ENCRYPTION,
    IKE_LIFETIME,
    INTEGRITY,
    TCP_MSS,
    TUNNEL_MTU,
    RouterConfigInput,
    Vendor,
    comment_text,
    numbered,
    plan,
)

VENDOR = Vendor(
    code="other",
    label="Other / generic IPsec",
    filename="vpn-parameters.txt",
    content_type="text/plain; charset=utf-8",
)


def render(data: RouterConfigInput) -> str:
    """The parameter summary."""
    p = plan(data)
    lines = [
        f"Site-to-site VPN '{comment_text(p.name)}' - parameters for your router (customer side)",
        "This file contains the pre-shared keys: keep it secret.",
        "",
        "General",
        f"  Customer gateway (your router's public IP, also its IKE identity): {p.customer_public_ip}",
        f"  On-premises subnet: {p.onprem_subnet}",
        f"  Platform VPC (route this over the tunnels): {p.vpc_cidr}",
        "  Type: route-based (VTI); traffic selectors 0.0.0.0/0 <-> 0.0.0.0/0, or policy-based "
        f"{p.onprem_subnet} <-> {p.vpc_cidr} if your router cannot do route-based",
        "",
        "Phase 1 (IKE)",
        "  Version: IKEv2",
        "  Authentication: pre-shared key",
        f"  Encryption: {ENCRYPTION}",
        f"  Integrity / PRF: {INTEGRITY}",
        f"  Diffie-Hellman group: {DH_GROUP} (MODP 2048)",
        f"  Lifetime: {IKE_LIFETIME} seconds (8 hours)",
        f"  Dead-peer detection: every {DPD_DELAY} seconds, peer dead after {DPD_TIMEOUT} seconds; action restart",
        "  NAT traversal: on (UDP 500 and 4500)",
        "",
        "Phase 2 (IPsec / ESP)",
        "  Protocol: ESP, tunnel mode",
        f"  Encryption: {ENCRYPTION}",
        f"  Integrity: {INTEGRITY} (HMAC-SHA-256-128)",
        f"  Perfect forward secrecy: DH group {DH_GROUP}",
        f"  Lifetime: {CHILD_LIFETIME} seconds (1 hour)",
        "",
        f"Tunnel interface MTU {TUNNEL_MTU}; clamp TCP MSS to {TCP_MSS}.",
    ]
    for t in p.tunnels:
        lines += [
            "",
            f"Tunnel {t.number}",
            f"  Remote endpoint (cloud side outside IP): {t.outside_ip}",
            f"  Inside CIDR: {t.inside_network}",
            f"  Your inside address: {t.customer_inside_ip}/{t.prefixlen}",
            f"  Cloud side inside address (next hop): {t.cloud_inside_ip}",
            "  Pre-shared key (exactly the characters between the markers):",
            f"  >>>{t.psk}<<<",
        ]
    steps = numbered(
        [
            "Allow UDP 500 and 4500 (and ESP) between this router and both remote endpoints.",
            "Create the phase 1 and phase 2 settings above for tunnel 1 and tunnel 2, each with its own key.",
            "Give each tunnel interface its inside address and the MTU above; clamp TCP MSS.",
            f"Route {p.vpc_cidr} over tunnel 1, with tunnel 2 as the backup route (higher metric).",
            f"Exempt traffic between {p.onprem_subnet} and {p.vpc_cidr} from NAT; allow it in the firewall.",
            "Start both tunnels from this side, then run the platform's health check: both should be up.",
        ]
    )
    lines += ["", "Deployment steps", *("  " + step for step in steps)]
    return "\n".join(lines) + "\n"
