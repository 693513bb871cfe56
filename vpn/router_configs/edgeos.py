"""Ubiquiti EdgeOS (EdgeRouter): configuration-mode commands for a route-based (VTI) site-to-site VPN.

`set vpn ipsec ike-group / esp-group / site-to-site peer ... vti bind`, VTI interfaces with the inside
addresses, MSS clamping for VTI interfaces, and static interface routes to the VPC (tunnel 1 preferred).
The EdgeOS CLI is a bash shell: free-text values are single-quoted (a `'` becomes `'\\''`), so `$`, backquotes,
double quotes and backslashes reach the configuration unchanged.
"""

from __future__ import annotations

from vpn.router_configs.base import (
    CHILD_LIFETIME,
    DH_GROUP,
    DPD_DELAY,
    DPD_TIMEOUT,
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
    code="edgeos",
    label="Ubiquiti EdgeOS",
    filename="edgeos-ipsec.txt",
    content_type="text/plain; charset=utf-8",
)


def quote(value: str) -> str:
    """A single-quoted shell word (always quoted, so the output reads the same for every value)."""
    return "'" + value.replace("'", "'\\''") + "'"


def _steps(p: Plan) -> list[str]:
    caution = []
    if any('"' in t.psk for t in p.tunnels):
        caution.append(
            "A key below contains a double quote: the CLI takes it as written, but EdgeOS writes keys into its "
            "own IPsec secrets file in double quotes. If that tunnel fails authentication, set a key without "
            'a " in the platform and download this file again.'
        )
    return numbered(
        [
            *caution,
            "Replace eth0 below with your WAN interface if it differs; if vti0/vti1 are in use, pick free VTI "
            "interfaces and change them everywhere.",
            "Log in over SSH and paste the commands below (they enter configure mode, commit and save).",
            f"auto-firewall-nat-exclude keeps {p.onprem_subnet} <-> {p.vpc_cidr} out of masquerade; allow UDP "
            "500/4500 and ESP from both endpoints in your WAN_LOCAL firewall.",
            "Check: show vpn ipsec sa lists both peers up; show ip route shows "
            f"{p.vpc_cidr} via vti0 (vti1 takes over when tunnel 1 is down).",
        ]
    )


def render(data: RouterConfigInput) -> str:
    """The EdgeOS command list."""
    p = plan(data)
    group = identifier(p.name).upper()
    ike, esp = f"{group}-IKE", f"{group}-ESP"
    lines = [commented(header(p, VENDOR.label)), "#", "# Deployment steps:", commented(_steps(p)), ""]
    cmd = lines.append
    cmd("configure")
    cmd("set vpn ipsec auto-firewall-nat-exclude enable")
    cmd("set vpn ipsec ipsec-interfaces interface eth0")
    for setting in (
        "key-exchange ikev2",
        f"lifetime {IKE_LIFETIME}",
        "dead-peer-detection action restart",
        f"dead-peer-detection interval {DPD_DELAY}",
        f"dead-peer-detection timeout {DPD_TIMEOUT}",
        f"proposal 1 dh-group {DH_GROUP}",
        "proposal 1 encryption aes256",
        "proposal 1 hash sha256",
    ):
        cmd(f"set vpn ipsec ike-group {ike} {setting}")
    for setting in (
        "compression disable",
        f"lifetime {CHILD_LIFETIME}",
        "mode tunnel",
        f"pfs dh-group{DH_GROUP}",
        "proposal 1 encryption aes256",
        "proposal 1 hash sha256",
    ):
        cmd(f"set vpn ipsec esp-group {esp} {setting}")
    for t in p.tunnels:
        vti = f"vti{t.number - 1}"
        peer = f"set vpn ipsec site-to-site peer {t.outside_ip}"
        cmd(f"{peer} authentication mode pre-shared-secret")
        cmd(f"{peer} authentication pre-shared-secret {quote(t.psk)}")
        cmd(f"{peer} authentication id {p.customer_public_ip}")
        cmd(f"{peer} authentication remote-id {t.outside_ip}")
        cmd(f"{peer} connection-type initiate")
        cmd(f"{peer} description {quote(f'{p.name} tunnel {t.number}')}")
        cmd(f"{peer} ike-group {ike}")
        cmd(f"{peer} ikev2-reauth no")
        cmd(f"{peer} local-address any")
        cmd(f"{peer} vti bind {vti}")
        cmd(f"{peer} vti esp-group {esp}")
        cmd(f"set interfaces vti {vti} address {t.customer_inside_ip}/{t.prefixlen}")
        cmd(f"set interfaces vti {vti} description {quote(f'{p.name} tunnel {t.number}')}")
        cmd(f"set interfaces vti {vti} mtu {TUNNEL_MTU}")
    cmd("set firewall options mss-clamp interface-type vti")
    cmd(f"set firewall options mss-clamp mss {TCP_MSS}")
    cmd(f"set protocols static interface-route {p.vpc_cidr} next-hop-interface vti0 distance 1")
    cmd(f"set protocols static interface-route {p.vpc_cidr} next-hop-interface vti1 distance 10")
    cmd("commit")
    cmd("save")
    cmd("exit")
    return "\n".join(lines) + "\n"
