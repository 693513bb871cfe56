"""pfSense (2.5 and later): the `<ipsec>` section of config.xml with one phase 1 and one VTI phase 2 per tunnel.

The file's root is `<ipsec>`, the unit pfSense's Backup & Restore accepts as the "IPsec" area; its elements
are the ones pfSense itself writes (phase1: iketype, remote-gateway, encryption/item, lifetime,
pre-shared-key, dpd_delay...; phase2: mode vti, localid/remoteid, encryption-algorithm-option, pfsgroup).
ElementTree writes it, so keys and descriptions are XML-escaped by construction.
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
    code="pfsense",
    label="pfSense",
    filename="pfsense-ipsec.xml",
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
    item = sub(sub(phase1, "encryption"), "item")
    sub(item, "encryption-algorithm", name="aes", keylen=256)
    sub(item, "hash-algorithm", "sha256")
    sub(item, "prf-algorithm", "sha256")
    sub(item, "dhgroup", DH_GROUP)
    sub(phase1, "lifetime", IKE_LIFETIME)
    sub(phase1, "rekey_time", IKE_LIFETIME * 9 // 10)
    sub(phase1, "reauth_time", 0)
    sub(phase1, "rand_time", IKE_LIFETIME // 20)
    sub(phase1, "pre-shared-key", t.psk)
    sub(phase1, "authentication_method", "pre_shared_key")
    sub(phase1, "descr", f"{p.name} tunnel {t.number}")
    sub(phase1, "nat_traversal", "on")
    sub(phase1, "mobike", "off")
    sub(phase1, "startaction", "start")
    sub(phase1, "closeaction", "start")
    sub(phase1, "dpd_delay", DPD_DELAY)
    sub(phase1, "dpd_maxfail", DPD_FAILURES)


def _phase2(root: ET.Element, p: Plan, t: TunnelPlan) -> None:
    phase2 = sub(root, "phase2")
    sub(phase2, "ikeid", t.number)
    sub(phase2, "uniqid", f"vpntunnel{t.number}")
    sub(phase2, "mode", "vti")
    sub(phase2, "reqid", t.number)
    sub(phase2, "localid", type="network", address=t.customer_inside_ip, netbits=t.prefixlen)
    sub(phase2, "remoteid", type="address", address=t.cloud_inside_ip)
    sub(phase2, "protocol", "esp")
    sub(phase2, "encryption-algorithm-option", name="aes", keylen=256)
    sub(phase2, "hash-algorithm-option", "hmac_sha256")
    sub(phase2, "pfsgroup", DH_GROUP)
    sub(phase2, "lifetime", CHILD_LIFETIME)
    sub(phase2, "rekey_time", CHILD_LIFETIME * 9 // 10)
    sub(phase2, "pinghost", t.cloud_inside_ip)
    sub(phase2, "keepalive", "enabled")
    sub(phase2, "descr", f"{p.name} tunnel {t.number}")


def _steps(p: Plan) -> list[str]:
    t1, t2 = p.tunnels
    caution = []
    if not all(t.psk.isascii() for t in p.tunnels):
        caution.append(
            "A key below contains non-ASCII characters, which pfSense's IPsec page refuses: set an ASCII key "
            "in the platform and download this file again."
        )
    return numbered(
        [
            *caution,
            "Diagnostics > Backup & Restore: download a backup of the current configuration first.",
            "If this firewall has no IPsec tunnels yet: Restore Backup, area 'IPsec', this file (it replaces the "
            "IPsec section). Otherwise copy the <phase1>/<phase2> elements into the <ipsec> section of "
            "config.xml, renumbering ikeid, reqid and uniqid to unused values.",
            "VPN > IPsec: check both phase 1 entries (interface WAN) and Apply Changes.",
            "Interfaces > Assignments: add the two VTI interfaces (ipsec1 and ipsec2), enable them; their "
            f"addresses ({t1.customer_inside_ip}/{t1.prefixlen}, {t2.customer_inside_ip}/{t2.prefixlen}) come "
            "from phase 2.",
            f"System > Routing > Gateways: the VTI gateways are {t1.cloud_inside_ip} (tunnel 1) and "
            f"{t2.cloud_inside_ip} (tunnel 2); make a gateway group with tunnel 1 as Tier 1 and tunnel 2 as Tier 2.",
            f"System > Routing > Static Routes: {p.vpc_cidr} via that gateway group.",
            f"System > Advanced > Firewall & NAT: enable MSS clamping on VPN traffic, maximum MSS {TCP_MSS}.",
            f"Firewall > Rules: allow {p.onprem_subnet} <-> {p.vpc_cidr} on LAN and on the IPsec interfaces; "
            "the WAN rules for UDP 500/4500 are added automatically.",
            "Status > IPsec: both tunnels show Established.",
        ]
    )


def render(data: RouterConfigInput) -> str:
    """The `<ipsec>` XML document."""
    p = plan(data)
    root = ET.Element("ipsec")
    for t in p.tunnels:
        _phase1(root, p, t)
    for t in p.tunnels:
        _phase2(root, p, t)
    return document(root, [*header(p, VENDOR.label), "", "Deployment steps:", *_steps(p)])
