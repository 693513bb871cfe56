"""Keys and names with shell, XML and quote characters come out of every vendor's file exactly as given.

Each test reads the value back with a parser for that syntax rather than searching for the raw text:
xml.etree for pfSense/OPNsense, shlex for the shell-like EdgeOS CLI and OpenWrt's UCI (which `uci export`
quotes the same way), a small reader of RouterOS's documented string escapes, and one of swanctl.conf's
quoted strings (the real strongSwan reads the same file in test_strongswan.py).
"""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET

import pytest

from tests.vpn.router_configs.inputs import CLOUD_PSK, FIXED, HOSTILE_NAMES, HOSTILE_PSKS, with_psks
from vpn.router_configs import render
from vpn.router_configs.base import identifier
from vpn.router_configs.openwrt import quote as uci_quote

PAIRS = [(psk, CLOUD_PSK) for psk in HOSTILE_PSKS] + [(CLOUD_PSK, psk) for psk in HOSTILE_PSKS[:3]]


def _ids(pair: tuple[str, str]) -> str:
    return repr(pair)[:40]


# --- pfSense and OPNsense: XML


@pytest.mark.parametrize("code", ["pfsense", "opnsense"])
@pytest.mark.parametrize("pair", PAIRS, ids=_ids)
def test_xml_keys_round_trip_through_an_xml_parser(code: str, pair: tuple[str, str]) -> None:
    root = ET.fromstring(render(code, with_psks(*pair)))
    assert root.tag == "ipsec"
    assert [e.text for e in root.iter("pre-shared-key")] == list(pair)
    assert [e.findtext("ikeid") for e in root.iter("phase1")] == ["1", "2"]
    assert [e.findtext("ikeid") for e in root.iter("phase2")] == ["1", "2"]


@pytest.mark.parametrize("code", ["pfsense", "opnsense"])
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_xml_names_are_escaped_in_descriptions_and_harmless_in_the_comment(code: str, name: str) -> None:
    text = render(code, with_psks(CLOUD_PSK, CLOUD_PSK, name=name))
    root = ET.fromstring(text)  # a `--` in the header comment would make this fail
    assert {e.text for e in root.iter("descr")} == {
        f"{name.strip() or 'vpn'} tunnel 1",
        f"{name.strip() or 'vpn'} tunnel 2",
    }
    assert text.count("<!--") == 1 and text.count("-->") == 1


# --- EdgeOS: bash-like CLI


def _edgeos_values(text: str, path: list[str]) -> list[str]:
    """The value after `path` in every `set ...` line (parsed as the shell parses it)."""
    values = []
    for line in text.splitlines():
        if line.startswith("set "):
            words = shlex.split(line)
            for start in range(len(words) - len(path)):
                if words[start : start + len(path)] == path and start + len(path) == len(words) - 1:
                    values.append(words[-1])
    return values


@pytest.mark.parametrize("pair", PAIRS, ids=_ids)
def test_edgeos_keys_are_single_words_the_shell_reads_back_unchanged(pair: tuple[str, str]) -> None:
    text = render("edgeos", with_psks(*pair))
    assert _edgeos_values(text, ["authentication", "pre-shared-secret"]) == list(pair)
    for line in text.splitlines():
        if line and not line.startswith("#"):
            shlex.split(line)  # every command line is complete (no unterminated quote)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_edgeos_names_stay_inside_their_quotes(name: str) -> None:
    text = render("edgeos", with_psks(CLOUD_PSK, CLOUD_PSK, name=name))
    expected = [f"{name.strip() or 'vpn'} tunnel {n}" for n in (1, 2)]
    assert _edgeos_values(text, ["description"]) == [expected[0], expected[0], expected[1], expected[1]]
    group = identifier(name).upper()
    assert re.fullmatch(r"[A-Z0-9-]+", group)


# --- OpenWrt: UCI


def _uci_options(text: str, key: str) -> list[str]:
    values = []
    for line in text.splitlines():
        if line.startswith(("\toption ", "\tlist ")):
            words = shlex.split(line)
            if len(words) == 3 and words[1] == key:
                values.append(words[2])
            else:
                assert len(words) == 3, f"a UCI line split into {words}"
    return values


def _swanctl_unquoted(value: str) -> str:
    """What strongSwan makes of `secret = <value>` written unquoted, as OpenWrt's init script writes it."""
    if value.startswith("0x"):
        return bytes.fromhex(value[2:]).decode()
    assert re.fullmatch(r"[A-Za-z0-9._-]+", value) and value[:2].lower() not in ("0x", "0s"), value
    return value


@pytest.mark.parametrize("pair", PAIRS, ids=_ids)
def test_uci_keys_survive_uci_and_the_init_scripts_unquoted_copy(pair: tuple[str, str]) -> None:
    values = _uci_options(render("openwrt", with_psks(*pair)), "pre_shared_key")
    assert [_swanctl_unquoted(value) for value in values] == list(pair)


def test_uci_keeps_a_cloud_generated_key_readable() -> None:
    assert _uci_options(render("openwrt", FIXED), "pre_shared_key")[0] == CLOUD_PSK


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_uci_section_names_are_plain_identifiers(name: str) -> None:
    text = render("openwrt", with_psks(CLOUD_PSK, CLOUD_PSK, name=name))
    for line in text.splitlines():
        if line.startswith("config "):
            words = shlex.split(line)
            assert all(re.fullmatch(r"[A-Za-z0-9_]+", word) for word in words), line


# --- MikroTik RouterOS


_ROUTEROS_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "$": "$", "?": "?", "_": " "}


def _routeros_strings(line: str) -> dict[str, str]:
    """`key="value"` pairs of a RouterOS command, with RouterOS's documented escapes undone."""
    found: dict[str, str] = {}
    for match in re.finditer(r'([a-z-]+)="((?:[^"\\]|\\.)*)"', line):
        raw, out, i = match.group(2), bytearray(), 0
        while i < len(raw):
            if raw[i] != "\\":
                out += raw[i].encode()
                i += 1
            elif re.fullmatch(r"[0-9A-F]{2}", raw[i + 1 : i + 3]):
                out.append(int(raw[i + 1 : i + 3], 16))
                i += 3
            else:
                out += _ROUTEROS_ESCAPES[raw[i + 1]].encode()
                i += 2
        found[match.group(1)] = out.decode()
    return found


@pytest.mark.parametrize("pair", PAIRS, ids=_ids)
def test_routeros_keys_read_back_unchanged_and_never_expand_variables(pair: tuple[str, str]) -> None:
    text = render("mikrotik", with_psks(*pair))
    secrets = []
    for line in text.splitlines():
        if " secret=" in line:
            hexed = re.search(r" secret=0x([0-9a-f]+) ", line)
            secrets.append(bytes.fromhex(hexed.group(1)).decode() if hexed else _routeros_strings(line)["secret"])
    assert secrets == list(pair)
    for line in text.splitlines():
        if " secret=" in line:
            assert not re.search(r"(?<!\\)[$?]", line.split("secret=", 1)[1].split(" my-id=")[0])


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_routeros_names_read_back_in_comments(name: str) -> None:
    text = render("mikrotik", with_psks(CLOUD_PSK, CLOUD_PSK, name=name))
    comments = [_routeros_strings(line).get("comment") for line in text.splitlines() if line.startswith("add ")]
    assert f"{name.strip() or 'vpn'} tunnel 1" in comments


# --- strongSwan swanctl.conf


def _swanctl_secrets(text: str) -> list[str]:
    values = []
    for match in re.finditer(r'^\s*secret = (0x[0-9a-f]+|"(?:[^"\\]|\\.)*")$', text, re.MULTILINE):
        value = match.group(1)
        if value.startswith("0x"):
            values.append(bytes.fromhex(value[2:]).decode())
        else:
            values.append(re.sub(r"\\(.)", r"\1", value[1:-1]))
    return values


@pytest.mark.parametrize("pair", PAIRS, ids=_ids)
def test_swanctl_secrets_read_back_unchanged(pair: tuple[str, str]) -> None:
    assert _swanctl_secrets(render("strongswan", with_psks(*pair))) == list(pair)


def test_routeros_hex_encodes_a_key_it_would_otherwise_parse_as_hex() -> None:
    text = render("mikrotik", with_psks("0xdeadbeef", "0Xabc"))
    assert "secret=0x" + b"0xdeadbeef".hex() + " " in text
    assert "secret=0x" + b"0Xabc".hex() + " " in text


def test_swanctl_hex_encodes_a_key_it_would_otherwise_decode_as_hex_or_base64() -> None:
    text = render("strongswan", with_psks("0xdeadbeef", "0sAAAA"))
    assert "secret = 0x" + b"0xdeadbeef".hex() in text
    assert "secret = 0x" + b"0sAAAA".hex() in text


# --- every vendor: names cannot inject lines, keys appear exactly once per tunnel


@pytest.mark.parametrize("code", ["pfsense", "opnsense", "openwrt", "mikrotik", "edgeos", "strongswan", "other"])
def test_a_name_with_line_breaks_cannot_add_a_command(code: str) -> None:
    text = render(code, with_psks(CLOUD_PSK, CLOUD_PSK, name="x\n/system reset-configuration\r\nset system"))
    assert not any(line.startswith(("/system", "set system")) for line in text.splitlines())


def test_the_generic_text_shows_keys_verbatim_between_markers() -> None:
    for psk, _ in PAIRS:
        text = render("other", with_psks(psk, CLOUD_PSK))
        assert re.findall(r"^  >>>(.*)<<<$", text, re.MULTILINE) == [psk, CLOUD_PSK]


def test_fixed_input_still_renders_the_custom_key_for_every_vendor() -> None:
    """The golden input's second key is the hostile one: every golden file exercises escaping."""
    assert any(char in FIXED.tunnels[1].psk for char in "'\"$`\\<>&")


@pytest.mark.parametrize("value", HOSTILE_PSKS)
def test_uci_quoting_itself_round_trips(value: str) -> None:
    """Every other UCI value goes through the same quoting as `uci export`."""
    assert shlex.split(f"\toption key {uci_quote(value)}") == ["option", "key", value]


def test_vendors_warn_where_the_router_itself_limits_keys() -> None:
    """EdgeOS quotes keys in its own secrets file; pfSense's page refuses non-ASCII keys."""
    assert "contains a double quote" in render("edgeos", with_psks('a"b', CLOUD_PSK))
    assert "contains a double quote" not in render("edgeos", with_psks("a'b$c", CLOUD_PSK))
    assert "non-ASCII" in render("pfsense", with_psks(CLOUD_PSK, "ключ"))
    assert "non-ASCII" not in render("pfsense", with_psks(CLOUD_PSK, "a'b\"c"))
