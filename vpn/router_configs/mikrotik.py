r"""MikroTik RouterOS v7: a CLI script for /ip ipsec (profile, proposal, peer, identity, policy) and firewall.

RouterOS IPsec is policy-based: one policy per tunnel for on-prem subnet <-> VPC, which is the route to
the VPC; tunnel 2's policy is added disabled as the standby (two enabled policies with the same selectors
would conflict). Strings are double-quoted with RouterOS escapes: `\\`, `\"`, `\$` (variable substitution)
and `\?` (help), and every byte outside printable ASCII as `\XX` hex. RouterOS parses an identity secret
that starts with `0x` as hex, so such a key is written hex-encoded (the same bytes).
"""

from __future__ import annotations

from vpn.router_configs.base import (
    CHILD_LIFETIME,
    DPD_DELAY,
    DPD_FAILURES,
    IKE_LIFETIME,
    TCP_MSS,
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
    code="mikrotik",
    label="MikroTik RouterOS v7",
    filename="mikrotik-ipsec.rsc",
    content_type="text/plain; charset=utf-8",
)

_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "?": "\\?"}


def quote(value: str) -> str:
    """A RouterOS string literal."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.extend(f"\\{byte:02X}" for byte in char.encode())
    return '"' + "".join(out) + '"'


def secret_value(psk: str) -> str:
    """The identity's `secret=`: a quoted string, or 0x-hex when RouterOS would read the text as hex."""
    if psk[:2].lower() == "0x":
        return "0x" + psk.encode().hex()
    return quote(psk)


def _steps(p: Plan) -> list[str]:
    return numbered(
        [
            "Check the WAN address: the router must own (or be 1:1 NATed to) the customer gateway IP "
            f"{p.customer_public_ip}, and allow UDP 500/4500 and ESP from both tunnel endpoints in /ip firewall "
            "filter (input chain).",
            "Upload this file (Files) and run: /import file-name=mikrotik-ipsec.rsc - or paste it into a terminal.",
            "The NAT rule must come before your masquerade rule (place-before=0 does that); the raw notrack "
            "rules keep fasttrack from bypassing IPsec.",
            f"The IPsec policy is the route to {p.vpc_cidr}: no static route is needed.",
            "Check: /ip ipsec active-peers print shows tunnel 1 established; /ip ipsec policy print shows it "
            "with PH2 state established.",
            "Failover: if tunnel 1 is down, disable its policy and enable tunnel 2's (or automate this with "
            "/tool netwatch on the tunnel 1 inside address).",
        ]
    )


def render(data: RouterConfigInput) -> str:
    """The RouterOS script."""
    p = plan(data)
    base = identifier(p.name)
    profile, proposal = f"{base}-ike", f"{base}-esp"
    note = quote(f"{p.name} (site-to-site VPN)")
    lines = [commented(header(p, VENDOR.label)), "#", "# Deployment steps:", commented(_steps(p)), ""]
    lines += [
        "/ip ipsec profile",
        f"add name={quote(profile)} hash-algorithm=sha256 enc-algorithm=aes-256 dh-group=modp2048 "
        f"lifetime={IKE_LIFETIME // 3600}h dpd-interval={DPD_DELAY}s dpd-maximum-failures={DPD_FAILURES} "
        "nat-traversal=yes",
        "/ip ipsec proposal",
        f"add name={quote(proposal)} auth-algorithms=sha256 enc-algorithms=aes-256-cbc pfs-group=modp2048 "
        f"lifetime={CHILD_LIFETIME // 3600}h",
        "/ip ipsec peer",
    ]
    for t in p.tunnels:
        lines.append(
            f"add name={quote(f'{base}-tunnel{t.number}')} address={t.outside_ip}/32 exchange-mode=ike2 "
            f"profile={quote(profile)} send-initial-contact=yes comment={quote(f'{p.name} tunnel {t.number}')}"
        )
    lines.append("/ip ipsec identity")
    for t in p.tunnels:
        lines.append(
            f"add peer={quote(f'{base}-tunnel{t.number}')} auth-method=pre-shared-key secret={secret_value(t.psk)} "
            f"my-id=address:{p.customer_public_ip} generate-policy=no"
        )
    lines.append("/ip ipsec policy")
    for t in p.tunnels:
        lines.append(
            f"add peer={quote(f'{base}-tunnel{t.number}')} tunnel=yes src-address={p.onprem_subnet} "
            f"dst-address={p.vpc_cidr} proposal={quote(proposal)} action=encrypt level=unique "
            f"comment={quote(f'{p.name} tunnel {t.number}')}" + (" disabled=yes" if t.number == 2 else "")
        )
    lines += [
        "# Inside tunnel addresses (monitoring; policy-based IPsec does not route through them)",
        "/interface bridge",
        f"add name={quote(f'{base}-inside')} protocol-mode=none comment={note}",
        "/ip address",
    ]
    for t in p.tunnels:
        lines.append(
            f"add address={t.customer_inside_ip}/{t.prefixlen} interface={quote(f'{base}-inside')} "
            f"comment={quote(f'{p.name} tunnel {t.number} inside (cloud side {t.cloud_inside_ip})')}"
        )
    lines += [
        "/ip firewall nat",
        f"add chain=srcnat action=accept src-address={p.onprem_subnet} dst-address={p.vpc_cidr} place-before=0 "
        f"comment={note}",
        "/ip firewall raw",
        f"add chain=prerouting action=notrack src-address={p.onprem_subnet} dst-address={p.vpc_cidr} comment={note}",
        f"add chain=prerouting action=notrack src-address={p.vpc_cidr} dst-address={p.onprem_subnet} comment={note}",
        "/ip firewall mangle",
        f"add chain=forward action=change-mss new-mss={TCP_MSS} passthrough=yes protocol=tcp tcp-flags=syn "
        f"tcp-mss={TCP_MSS + 1}-65535 src-address={p.onprem_subnet} dst-address={p.vpc_cidr} comment={note}",
        f"add chain=forward action=change-mss new-mss={TCP_MSS} passthrough=yes protocol=tcp tcp-flags=syn "
        f"tcp-mss={TCP_MSS + 1}-65535 src-address={p.vpc_cidr} dst-address={p.onprem_subnet} comment={note}",
    ]
    return "\n".join(lines) + "\n"
