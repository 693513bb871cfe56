"""Every vendor's configuration for one fixed VPN, compared with a reviewed file under golden/.

The golden files were reviewed against each vendor's documented syntax (pfSense/OPNsense config.xml
<ipsec> elements, OpenWrt's swanctl UCI sections, RouterOS v7 /ip ipsec, EdgeOS `set vpn ipsec`,
swanctl.conf(5)). A change to a renderer must show up as a reviewed diff of these files.

Regenerate after an intended change, then review `git diff tests/vpn/router_configs/golden/`:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/vpn/router_configs/test_golden.py -q -p no:randomly
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.vpn.router_configs.inputs import CLOUD_PSK, FIXED, with_psks
from vpn.router_configs import VENDORS, RouterConfigInput, Tunnel, Vendor, render

GOLDEN = Path(__file__).parent / "golden"
CODES = ["pfsense", "opnsense", "openwrt", "mikrotik", "edgeos", "strongswan", "other"]


def test_the_vendor_codes_are_exactly_the_seven_the_vpn_app_offers() -> None:
    assert list(VENDORS) == CODES
    for code, vendor in VENDORS.items():
        assert isinstance(vendor, Vendor) and vendor.code == code and vendor.label and vendor.filename
        assert vendor.content_type.endswith("charset=utf-8")
    assert len({vendor.filename for vendor in VENDORS.values()}) == len(CODES)


def test_an_unknown_vendor_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        render("cisco", FIXED)


@pytest.mark.parametrize("code", CODES)
def test_output_matches_the_reviewed_golden_file(code: str) -> None:
    path = GOLDEN / VENDORS[code].filename
    text = render(code, FIXED)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"regenerate with UPDATE_GOLDEN=1 and review the diff of {path}"


@pytest.mark.parametrize("code", CODES)
def test_every_configuration_carries_every_parameter(code: str) -> None:
    """Both endpoints, the inside addresses of both sides, the VPC route target, lifetimes and numbered steps."""
    text = render(code, with_psks(CLOUD_PSK, "Second.Key_42"))
    for needle in (
        "203.0.113.10",
        "203.0.113.20",
        "198.51.100.7",
        "169.254.10.2",
        "169.254.10.1",
        "169.254.11.2",
        "169.254.11.1",
        "10.20.0.0/16",
        "192.168.10.0/24",
        CLOUD_PSK,
        "Second.Key_42",
        "28800",
        "3600",
        "1379",
        "1. ",
        "2. ",
    ):
        assert needle in text, f"{code}: {needle!r} missing"
    assert text.endswith("\n")


@pytest.mark.parametrize(
    ("code", "proposal"),
    [
        ("pfsense", "<dhgroup>14</dhgroup>"),
        ("opnsense", "<pfsgroup>14</pfsgroup>"),
        ("openwrt", "option dh_group 'modp2048'"),
        ("mikrotik", "pfs-group=modp2048"),
        ("edgeos", "pfs dh-group14"),
        ("strongswan", "esp_proposals = aes256-sha256-modp2048"),
        ("other", "Perfect forward secrecy: DH group 14"),
    ],
)
def test_each_vendor_says_ikev2_aes256_sha256_group14_in_its_own_words(code: str, proposal: str) -> None:
    text = render(code, FIXED).lower()
    assert proposal.lower() in text
    assert "ikev2" in text or "ike2" in text
    assert "aes256" in text or "aes-256" in text or "<keylen>256</keylen>" in text
    assert "sha256" in text or "sha-256" in text


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("customer_public_ip", "not-an-ip"),
        ("customer_public_ip", "198.51.100.7\nrm -rf /"),
        ("onprem_subnet", "192.168.10.0/33"),
        ("vpc_cidr", "10.20.0.0/16; reboot"),
    ],
)
def test_malformed_addresses_are_value_errors_never_rendered(field: str, bad: str) -> None:
    data = RouterConfigInput(**{**FIXED.__dict__, field: bad})
    for code in CODES:
        with pytest.raises(ValueError):
            render(code, data)


@pytest.mark.parametrize(
    "tunnel",
    [
        Tunnel("203.0.113.10", "169.254.10.0/29", CLOUD_PSK),
        Tunnel("203.0.113.10", "169.254.10.0/30", ""),
        Tunnel("203.0.113.10", "169.254.10.0/30", "line\nbreak"),
        Tunnel("203.0.113.10", "169.254.10.0/30", "nul\x00byte"),
        Tunnel("203.0.113.999", "169.254.10.0/30", CLOUD_PSK),
    ],
)
def test_malformed_tunnels_are_value_errors_that_never_echo_the_key(tunnel: Tunnel) -> None:
    data = RouterConfigInput(**{**FIXED.__dict__, "tunnels": (tunnel, FIXED.tunnels[1])})
    with pytest.raises(ValueError) as caught:
        render("strongswan", data)
    assert CLOUD_PSK not in str(caught.value) and "break" not in str(caught.value)


def test_the_inside_addresses_follow_the_30_customer_side_two_cloud_side_one() -> None:
    text = render("other", FIXED)
    assert "Your inside address: 169.254.10.2/30" in text
    assert "Cloud side inside address (next hop): 169.254.10.1" in text
