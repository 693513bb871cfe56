"""Shared inputs for the router configuration tests: one fixed VPN and keys that try every syntax's quoting."""

from __future__ import annotations

from vpn.router_configs import RouterConfigInput, Tunnel

# What the cloud generates: letters, digits, `.` and `_`.
CLOUD_PSK = "Xq3_f9.LmP2wZ8rT_kB4nV7yD1cA6sE0"
# A custom key a user might set: quotes of both kinds, shell expansion, backslashes, XML markup, spaces.
CUSTOM_PSK = 'It\'s a "key" with $HOME, `id`, \\ & <xml>'

# Each of these must come out of every vendor's file byte for byte.
HOSTILE_PSKS = [
    CUSTOM_PSK,
    "'",
    '"',
    "\\",
    "\\\\'\"",
    "$(reboot)",
    "${PATH}`uname`",
    "a'\\''b",
    "<![CDATA[x]]>&amp;",
    "--><!--",
    "  leading and trailing  ",
    "#not-a-comment ;also not",
    "key?with?questions",
    "0xnot-hex",
    "0sNotBase64",
    "ünïcødé-κλειδί",
    "}{ = ] [",
]

# Names are free text too: they must never break out of a comment, a description or an identifier.
HOSTILE_NAMES = ["Office VPN", 'it\'s "mine" <b>&amp;</b> $x `y` \\', "--> <!-- */ #", "", "名前 VPN"]

FIXED = RouterConfigInput(
    name="Head Office (Berlin)",
    customer_public_ip="198.51.100.7",
    onprem_subnet="192.168.10.0/24",
    vpc_cidr="10.20.0.0/16",
    tunnels=(
        Tunnel(outside_ip="203.0.113.10", inside_cidr="169.254.10.0/30", psk=CLOUD_PSK),
        Tunnel(outside_ip="203.0.113.20", inside_cidr="169.254.11.0/30", psk=CUSTOM_PSK),
    ),
)


def with_psks(psk1: str, psk2: str, name: str = FIXED.name) -> RouterConfigInput:
    """FIXED with other keys (and optionally another name)."""
    t1, t2 = FIXED.tunnels
    return RouterConfigInput(
        name=name,
        customer_public_ip=FIXED.customer_public_ip,
        onprem_subnet=FIXED.onprem_subnet,
        vpc_cidr=FIXED.vpc_cidr,
        tunnels=(
            Tunnel(t1.outside_ip, t1.inside_cidr, psk1),
            Tunnel(t2.outside_ip, t2.inside_cidr, psk2),
        ),
    )
