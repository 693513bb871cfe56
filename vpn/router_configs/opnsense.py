"""OPNsense: the `<ipsec>` section of config.xml (the "Tunnel Settings" phase 1 / phase 2 entries), route-based.

Route-based phase 2 entries use `mode` route-based with `tunnel_local` / `tunnel_remote` (the VTI's inside
addresses); OPNsense requires such a phase 1 to set `noinstallpolicy`. ElementTree writes the XML, so keys
and descriptions are escaped by construction.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from vpn.router_configs._xml import document, sub
from vpn.router_configs.base import (
    CHILD_LIFETIME,
    DH_GROUP,
    DPD_DELAY,
    DPD_FAILURES,
    IKE_LIFETIME,
    TCP_MSS,
    Plan,
    RouterConfigInput,
    TunnelPlan,
    Vendor,
    header,
    numbered,
    plan,
)

VENDOR = Vendor(
    code="opnsense",
    label="OPNsense",
    filename="opnsense-ipsec.xml",
    content_type="application/xml; charset=utf-8",
)


def _phase1(root: ET.Element, p: Plan, t: TunnelPlan) -> None:
    phase1 = sub(root, "phase1")
    sub(phase1, "ikeid", t.number)
    sub(phase1, "iketype", "ikev2")
    sub(phase1, "interface", "wan")
    sub(phase1, "remote-gateway", t.outside_ip)
    sub(phase1, "protocol", "inet")
    sub(phase1, "myid_type", "address")
    sub(phase1, "myid_data", p.customer_public_ip)
    sub(phase1, "peerid_type", "address")
    sub(phase1, "peerid_data", t.outside_ip)
    sub(phase1, "encryption-algorithm", name="aes", keylen=256)
    sub(phase1, "hash-algorithm", "sha256")
    sub(phase1, "dhgroup", DH_GROUP)
    sub(phase1, "lifetime", IKE_LIFETIME)
    sub(phase1, "authentication_method", "pre_shared_key")
    sub(phase1, "pre-shared-key", t.psk)
    sub(phase1, "descr", f"{p.name} tunnel {t.number}")
    sub(phase1, "nat_traversal", "on")
    sub(phase1, "noinstallpolicy", 1)
    sub(phase1, "auto", "start")
    sub(phase1, "keyingtries", -1)  # retry forever
    sub(phase1, "dpd_delay", DPD_DELAY)
    sub(phase1, "dpd_maxfail", DPD_FAILURES)
    sub(phase1, "dpd_action", "restart")


def _phase2(root: ET.Element, p: Plan, t: TunnelPlan) -> None:
    phase2 = sub(root, "phase2")
    sub(phase2, "ikeid", t.number)
    sub(phase2, "uniqid", f"vpntunnel{t.number}")
    sub(phase2, "mode", "route-based")
    sub(phase2, "tunnel_local", t.customer_inside_ip)
    sub(phase2, "tunnel_remote", t.cloud_inside_ip)
    sub(phase2, "protocol", "esp")
    sub(phase2, "encryption-algorithm-option", name="aes", keylen=256)
    sub(phase2, "hash-algorithm-option", "hmac_sha256")
    sub(phase2, "pfsgroup", DH_GROUP)
    sub(phase2, "lifetime", CHILD_LIFETIME)
    sub(phase2, "pinghost", t.cloud_inside_ip)
    sub(phase2, "descr", f"{p.name} tunnel {t.number}")


def _steps(p: Plan) -> list[str]:
    t1, t2 = p.tunnels
    return numbered(
        [
            "System > Configuration > Backups: download a backup first.",
            "If this firewall has no IPsec tunnels yet: restore this file with Restore area 'IPsec'. Otherwise "
            "copy the <phase1>/<phase2> elements into the <ipsec> section of config.xml, renumbering ikeid "
            "and uniqid to unused values.",
            "VPN > IPsec > Tunnel Settings: check both tunnels, enable IPsec and Apply.",
            "Interfaces > Assignments: assign the two ipsec VTI devices (tunnel 1 and 2), enable them "
            f"(addresses {t1.customer_inside_ip}/{t1.prefixlen} and {t2.customer_inside_ip}/{t2.prefixlen} come "
            f"from phase 2); set MTU 1436 and MSS {TCP_MSS} on both.",
            f"System > Gateways: add {t1.cloud_inside_ip} on the tunnel 1 interface and {t2.cloud_inside_ip} "
            "on tunnel 2 (Far Gateway), then a gateway group with tunnel 1 as Tier 1 and tunnel 2 as Tier 2.",
            f"System > Routes: {p.vpc_cidr} via that gateway group.",
            f"Firewall > Rules: allow {p.onprem_subnet} <-> {p.vpc_cidr} on LAN and the IPsec interfaces; "
            "allow UDP 500/4500 from both endpoints on WAN.",
            "VPN > IPsec > Status Overview: both tunnels connected.",
        ]
    )


def render(data: RouterConfigInput) -> str:
    """The `<ipsec>` XML document."""
    p = plan(data)
    root = ET.Element("ipsec")
    sub(root, "enable", 1)
    for t in p.tunnels:
        _phase1(root, p, t)
    for t in p.tunnels:
        _phase2(root, p, t)
    return document(root, [*header(p, VENDOR.label), "", "Deployment steps:", *_steps(p)])
