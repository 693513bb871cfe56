"""OpenWrt (22.03 and later, strongSwan with swanctl): UCI sections for /etc/config/ipsec, network and firewall.

The `ipsec` sections are the ones OpenWrt's swanctl init script (/etc/init.d/swanctl) turns into
swanctl.conf: `remote` (with `list child`), `child`, `crypto_proposal`. The older script's names
(`gateway`, `list tunnel`) are written too, so either version finds its options; each ignores the other's.
XFRM interfaces (package xfrm) make it route-based, with the inside addresses and the route to the VPC in
/etc/config/network. An nftables include clamps TCP MSS for VPC traffic.

Quoting happens twice: values are single-quoted the way `uci export` writes them (a `'` becomes `'\\''`),
and the init script then copies `pre_shared_key` *unquoted* into `secret = ...` of swanctl.conf, where `#`,
quotes, braces or surrounding spaces would change it. So a key with anything beyond letters, digits, `.`,
`_` and `-` is written as `0x` + hex, which swanctl decodes to exactly the same bytes.
"""

from __future__ import annotations

import re

from vpn.router_configs.base import (
    CHILD_LIFETIME,
    DPD_DELAY,
    IKE_LIFETIME,
    TCP_MSS,
    TUNNEL_MTU,
    Plan,
    RouterConfigInput,
    Vendor,
    commented,
    header,
    identifier,
    numbered,
    plan,
)

VENDOR = Vendor(
    code="openwrt",
    label="OpenWrt (strongSwan / UCI)",
    filename="openwrt-ipsec.uci",
    content_type="text/plain; charset=utf-8",
)

IF_ID_BASE = 40  # tunnel n uses XFRM if_id 40 + n


def quote(value: str | int) -> str:
    """A UCI value, single-quoted like `uci export`."""
    return "'" + str(value).replace("'", "'\\''") + "'"


_SAFE_UNQUOTED = re.compile(r"[A-Za-z0-9._-]+")


def psk_value(psk: str) -> str:
    """The key as the init script can pass it through unquoted: as is when plain, else swanctl's 0x hex."""
    if _SAFE_UNQUOTED.fullmatch(psk) and psk[:2].lower() not in ("0x", "0s"):
        return psk
    return "0x" + psk.encode().hex()


def _section(kind: str, name: str | None, options: list[tuple[str, str, str | int]]) -> list[str]:
    """`config kind 'name'` with `option`/`list` lines ((keyword, key, value) triples)."""
    lines = [f"config {kind}" + (f" {quote(name)}" if name else "")]
    lines += [f"\t{keyword} {key} {quote(value)}" for keyword, key, value in options]
    return [*lines, ""]


def _ipsec(p: Plan, base: str) -> list[str]:
    lines: list[str] = []
    for t in p.tunnels:
        name = f"{base}_t{t.number}"
        lines += _section(
            "remote",
            name,
            [
                ("option", "enabled", 1),
                ("list", "remote_addrs", t.outside_ip),
                ("option", "gateway", t.outside_ip),
                ("option", "keyexchange", "ikev2"),
                ("option", "local_identifier", p.customer_public_ip),
                ("option", "remote_identifier", t.outside_ip),
                ("option", "authentication_method", "psk"),
                ("option", "pre_shared_key", psk_value(t.psk)),
                ("option", "mobike", 0),
                ("option", "keyingtries", 0),
                ("option", "rekeytime", f"{IKE_LIFETIME // 3600}h"),
                ("option", "dpddelay", f"{DPD_DELAY}s"),
                ("list", "crypto_proposal", f"{base}_proposal"),
                ("list", "child", name),
                ("list", "tunnel", name),
            ],
        )
        lines += _section(
            "child",
            name,
            [
                ("option", "mode", "tunnel"),
                ("list", "local_subnet", "0.0.0.0/0"),
                ("list", "remote_subnet", "0.0.0.0/0"),
                ("option", "if_id", IF_ID_BASE + t.number),
                ("option", "startaction", "start"),
                ("option", "dpdaction", "restart"),
                ("option", "rekeytime", f"{CHILD_LIFETIME // 3600}h"),
                ("list", "crypto_proposal", f"{base}_proposal"),
            ],
        )
    lines += _section(
        "crypto_proposal",
        f"{base}_proposal",
        [
            ("option", "encryption_algorithm", "aes256"),
            ("option", "hash_algorithm", "sha256"),
            ("option", "dh_group", "modp2048"),
        ],
    )
    return lines


def _network(p: Plan, base: str) -> list[str]:
    lines: list[str] = []
    for t in p.tunnels:
        name = f"{base}_t{t.number}"
        lines += _section(
            "interface",
            f"{name}_if",
            [
                ("option", "proto", "xfrm"),
                ("option", "ifid", IF_ID_BASE + t.number),
                ("option", "tunlink", "wan"),
                ("option", "mtu", TUNNEL_MTU),
            ],
        )
        lines += _section(
            "interface",
            f"{name}_ip",
            [
                ("option", "proto", "static"),
                ("option", "device", f"@{name}_if"),
                ("option", "ipaddr", t.customer_inside_ip),
                ("option", "netmask", t.netmask),
            ],
        )
        lines += _section(
            "route",
            None,
            [
                ("option", "interface", f"{name}_ip"),
                ("option", "target", str(p.vpc_cidr)),
                ("option", "metric", 100 * t.number),
            ],
        )
    return lines


def _firewall(p: Plan, base: str) -> list[str]:
    zone = f"{base[:7]}_vpn"  # fw4 zone names: at most 11 characters
    lines = _section(
        "zone",
        None,
        [
            ("option", "name", zone),
            ("list", "network", f"{base}_t1_ip"),
            ("list", "network", f"{base}_t2_ip"),
            ("option", "input", "REJECT"),
            ("option", "output", "ACCEPT"),
            ("option", "forward", "REJECT"),
        ],
    )
    lines += _section("forwarding", None, [("option", "src", "lan"), ("option", "dest", zone)])
    lines += _section("forwarding", None, [("option", "src", zone), ("option", "dest", "lan")])
    for t in p.tunnels:
        lines += _section(
            "rule",
            None,
            [
                ("option", "name", f"Allow-IKE-tunnel{t.number}"),
                ("option", "src", "wan"),
                ("option", "src_ip", t.outside_ip),
                ("list", "proto", "udp"),
                ("list", "dest_port", "500 4500"),
                ("option", "target", "ACCEPT"),
            ],
        )
        lines += _section(
            "rule",
            None,
            [
                ("option", "name", f"Allow-ESP-tunnel{t.number}"),
                ("option", "src", "wan"),
                ("option", "src_ip", t.outside_ip),
                ("option", "proto", "esp"),
                ("option", "target", "ACCEPT"),
            ],
        )
    return lines


def _steps(p: Plan, base: str) -> list[str]:
    return numbered(
        [
            "Install the packages: opkg update && opkg install strongswan-full xfrm (strongswan-full brings "
            "swanctl and the swanctl init script).",
            "Append each part below to the file named in its heading (/etc/config/ipsec, /etc/config/network, "
            "/etc/config/firewall); create /etc/nftables.d/20-" + base + "-mss.nft from the last part.",
            "If XFRM if_id 41/42 are in use on this router, pick free ids in both ipsec and network parts.",
            "A pre-shared key written as 0x followed by hex digits is the key hex-encoded (it holds characters "
            "the init script cannot pass through); strongSwan decodes it to the same key.",
            f"Apply: service network reload && service firewall restart && service swanctl restart; routes to "
            f"{p.vpc_cidr} go over tunnel 1 (metric 100), tunnel 2 is the backup (metric 200).",
            "Check: swanctl --list-sas shows both tunnels ESTABLISHED; ping the cloud side inside addresses.",
        ]
    )


def render(data: RouterConfigInput) -> str:
    """The UCI text (four parts, each headed by the file it belongs to)."""
    p = plan(data)
    base = identifier(p.name, separator="_", limit=16)
    nft = [
        "# ---- /etc/nftables.d/20-" + base + "-mss.nft (included in fw4's table inet fw4) ----",
        "chain " + base + "_mss_clamp {",
        "\ttype filter hook forward priority mangle; policy accept;",
        f"\tip daddr {p.vpc_cidr} tcp flags syn tcp option maxseg size set {TCP_MSS}",
        f"\tip saddr {p.vpc_cidr} tcp flags syn tcp option maxseg size set {TCP_MSS}",
        "}",
    ]
    lines = [
        commented(header(p, VENDOR.label)),
        "#",
        "# Deployment steps:",
        commented(_steps(p, base)),
        "",
        "# ---- /etc/config/ipsec ----",
        *_ipsec(p, base),
        "# ---- /etc/config/network (append) ----",
        *_network(p, base),
        "# ---- /etc/config/firewall (append) ----",
        *_firewall(p, base),
        *nft,
    ]
    return "\n".join(lines) + "\n"
