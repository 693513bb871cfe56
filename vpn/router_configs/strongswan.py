"""Linux strongSwan: a `swanctl.conf` with one connection per tunnel and the IKE secrets.

Route-based with XFRM interfaces (strongSwan 5.8+, Linux 4.19+): each child SA carries `if_id_in/out`,
traffic selectors are 0.0.0.0/0 as the cloud side expects for route-based tunnels, and the route to the
VPC goes over the two interfaces. Values follow swanctl.conf(5): strings in double quotes with `\\` and `"`
escaped; a secret that begins with `0x` or `0s` would be decoded as hex/base64 by swanctl, so such a key is
written hex-encoded instead (the same bytes).
"""

from __future__ import annotations

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
    code="strongswan",
    label="Linux strongSwan (swanctl.conf)",
    filename="swanctl.conf",
    content_type="text/plain; charset=utf-8",
)

PROPOSAL = "aes256-sha256-modp2048"
IF_ID_BASE = 40  # tunnel n uses if_id 40 + n (and interface xfrm4n)


def quote(value: str) -> str:
    """A swanctl.conf string value: double-quoted, backslash and quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def secret_value(psk: str) -> str:
    """The `secret =` value: quoted text, or hex when swanctl would otherwise decode a 0x/0s prefix."""
    if psk[:2].lower() in ("0x", "0s"):
        return "0x" + psk.encode().hex()
    return quote(psk)


def _steps(p: Plan, conn: str) -> list[str]:
    wan = "<wan-interface>"
    steps = [
        "Install strongSwan 5.8 or later with swanctl (Debian/Ubuntu: apt-get install charon-systemd "
        "strongswan-swanctl) and enable IP forwarding (sysctl -w net.ipv4.ip_forward=1).",
        f"Save this file as /etc/swanctl/conf.d/{conn}.conf (mode 0600: it holds the pre-shared keys).",
    ]
    for t in p.tunnels:
        dev = f"xfrm{IF_ID_BASE + t.number}"
        steps.append(
            f"Tunnel {t.number} interface: ip link add {dev} type xfrm dev {wan} if_id {IF_ID_BASE + t.number} && "
            f"ip addr add {t.customer_inside_ip}/{t.prefixlen} dev {dev} && ip link set {dev} mtu {TUNNEL_MTU} up"
        )
    steps += [
        f"Route the VPC over both tunnels (tunnel 1 preferred): ip route add {p.vpc_cidr} dev xfrm{IF_ID_BASE + 1} "
        f"metric 100 && ip route add {p.vpc_cidr} dev xfrm{IF_ID_BASE + 2} metric 200",
        f"Clamp TCP MSS to {TCP_MSS} on both: iptables -t mangle -A FORWARD -o xfrm{IF_ID_BASE + 1} -p tcp "
        f"--tcp-flags SYN,RST SYN -j TCPMSS --set-mss {TCP_MSS} (and the same for xfrm{IF_ID_BASE + 2}).",
        f"Allow UDP 500 and 4500 from both tunnel endpoints and forwarding between {p.onprem_subnet} and "
        f"{p.vpc_cidr}; exclude that traffic from source NAT.",
        "Load and check: swanctl --load-all, then swanctl --list-sas shows both tunnels ESTABLISHED.",
        "Make the interfaces, routes and MSS rule persistent (systemd-networkd, ifupdown or nftables files). "
        "If this host already uses if_id 41/42, pick free ids here and in the interfaces alike.",
    ]
    return numbered(steps)


def render(data: RouterConfigInput) -> str:
    """The swanctl.conf text."""
    p = plan(data)
    base = identifier(p.name)
    lines = [commented(header(p, VENDOR.label)), "#", "# Deployment steps:", commented(_steps(p, base)), ""]
    lines.append("connections {")
    for t in p.tunnels:
        conn = f"{base}-tunnel{t.number}"
        if_id = IF_ID_BASE + t.number
        lines += [
            f"    {conn} {{",
            "        version = 2",
            "        local_addrs = %any",
            f"        remote_addrs = {t.outside_ip}",
            f"        proposals = {PROPOSAL}",
            f"        rekey_time = {IKE_LIFETIME}s",
            f"        dpd_delay = {DPD_DELAY}s",
            "        keyingtries = 0",
            "        mobike = no",
            "        local {",
            "            auth = psk",
            f"            id = {p.customer_public_ip}",
            "        }",
            "        remote {",
            "            auth = psk",
            f"            id = {t.outside_ip}",
            "        }",
            "        children {",
            f"            {conn} {{",
            "                local_ts = 0.0.0.0/0",
            "                remote_ts = 0.0.0.0/0",
            f"                esp_proposals = {PROPOSAL}",
            f"                rekey_time = {CHILD_LIFETIME}s",
            "                dpd_action = restart",
            "                start_action = start",
            "                close_action = start",
            f"                if_id_in = {if_id}",
            f"                if_id_out = {if_id}",
            "            }",
            "        }",
            "    }",
        ]
    lines += ["}", "", "secrets {"]
    for t in p.tunnels:
        lines += [
            f"    ike-{base}-tunnel{t.number} {{",
            f"        id-local = {p.customer_public_ip}",
            f"        id-remote = {t.outside_ip}",
            f"        secret = {secret_value(t.psk)}",
            "    }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"
