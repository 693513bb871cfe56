"""SSRF guard for every outbound call to a user-supplied endpoint.

Connections point the platform at URLs that users type in (a self-hosted GitLab, a Kubernetes API
server, Proxmox and vCenter hosts). Without a guard, such a URL is a way to make our servers talk to
themselves (Redis on 127.0.0.1), to the private network they sit in, or to the cloud metadata service
that hands out the platform's own credentials. This module is the one place that decides whether a
destination is acceptable, and the one way to reach it:

* ``check_url`` parses and normalizes the URL itself (no platform resolver interprets odd IPv4 forms
  such as ``0x7f.1`` or ``2130706433``), resolves a name exactly once, checks *every* address the
  resolver returned, and returns a ``Target`` pinned to one checked address.
* ``guarded_request`` connects to that pinned address only (no second lookup, so DNS rebinding cannot
  swap the address between check and connect), keeps SNI, certificate and ``Host`` on the original
  name, never reads proxies from the environment, bounds time and size, and re-checks every redirect.

Documentation ranges, ``0.0.0.0/8`` and every address of this host's own interfaces are refused too.
When a call to a private address fails, the message is the same whatever the reason (refused,
timed out, not TLS), so connection tests cannot be used to scan a private network for open ports.

Exceptions: ``allowed_networks`` (networks a connection may reach, e.g. an on-prem subnet behind an
active VPN) and the operator setting
``NETGUARD_ALLOWED_NETWORKS`` make otherwise refused addresses acceptable. Cloud metadata addresses
are refused whatever either list says, and a connection's own ``allowed_networks`` (user-controlled)
can only open site networks (private, CGNAT, ULA, benchmarking), never loopback, link-local,
unspecified, multicast or reserved addresses; only the operator setting can open those.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any
from urllib.parse import quote, unquote, urljoin

import certifi
import idna
import psutil
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.ssl_match_hostname import CertificateError

__all__ = [
    "BlockedDestination",
    "GuardError",
    "GuardedResponse",
    "NetguardError",
    "Target",
    "check_url",
    "guarded_request",
    "normalize_host",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers that carry no credentials and may follow a redirect to another origin; everything else
# (Authorization, PRIVATE-TOKEN, Cookie, X-Auth-Token, ...) is dropped so a token meant for one host
# is never handed to another one.
CROSS_ORIGIN_SAFE_HEADERS = frozenset({"accept", "accept-language", "user-agent", "content-type"})
_DISPLAY_LIMIT = 80
_READ_CHUNK = 64 * 1024

# Never acceptable, whatever an allow-list says: these hand out the platform's own cloud credentials.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ... instance metadata
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.170.23",  # AWS EKS Pod Identity agent
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "fd00:ec2::23",  # AWS EKS Pod Identity agent over IPv6
        "fd20:ce::254",  # GCP metadata server over IPv6
        "100.100.100.200",  # Alibaba Cloud metadata
        "192.0.0.192",  # Oracle Cloud metadata
        "168.63.129.16",  # Azure WireServer (public address, host-only service)
    )
)


def _nets(*rows: tuple[str, str, bool]) -> tuple[tuple[IPNetwork, str, bool], ...]:
    return tuple((ipaddress.ip_network(cidr), desc, unlockable) for cidr, desc, unlockable in rows)


# (network, description, can a connection's own allowed_networks open it?). First match wins, so
# narrow entries come before the wide ones that contain them.
REFUSED_IPV4 = _nets(
    ("0.0.0.0/8", "an unspecified ('this network') address", False),
    ("10.0.0.0/8", "a private address", True),
    ("100.64.0.0/10", "a carrier-grade NAT (shared) address", True),
    ("127.0.0.0/8", "a loopback address", False),
    ("169.254.0.0/16", "a link-local address", False),
    ("172.16.0.0/12", "a private address", True),
    ("192.0.0.0/24", "an IETF protocol assignment address", False),
    ("192.0.2.0/24", "a documentation (TEST-NET-1) address", False),
    ("192.88.99.0/24", "a 6to4 relay anycast address", False),
    ("192.168.0.0/16", "a private address", True),
    ("198.18.0.0/15", "a benchmarking address", True),
    ("198.51.100.0/24", "a documentation (TEST-NET-2) address", False),
    ("203.0.113.0/24", "a documentation (TEST-NET-3) address", False),
    ("224.0.0.0/4", "a multicast address", False),
    ("255.255.255.255/32", "the broadcast address", False),
    ("240.0.0.0/4", "a reserved address", False),
)
REFUSED_IPV6 = _nets(
    ("::/128", "an unspecified address", False),
    ("::1/128", "a loopback address", False),
    ("64:ff9b:1::/48", "a local-use NAT64 address", False),
    ("100::/64", "a discard-only address", False),
    ("2001::/32", "a Teredo tunnelling address", False),
    ("2001:2::/48", "a benchmarking address", True),
    ("2001:db8::/32", "a documentation address", False),
    ("3fff::/20", "a documentation address", False),
    ("fc00::/7", "a private (unique local) address", True),
    ("fe80::/10", "a link-local address", False),
    ("fec0::/10", "a site-local address", True),
    ("ff00::/8", "a multicast address", False),
)
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_HEX_NUMBER_RE = re.compile(r"0x[0-9a-f]*")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PATH_SAFE = "".join(chr(i) for i in range(0x21, 0x7F))


class NetguardError(Exception):
    """Base of everything this module raises on purpose, for callers that treat both kinds alike."""


class BlockedDestination(NetguardError):
    """The destination is refused by policy (or is not a valid http(s) destination at all).

    The message names what was given and why it is refused, so a user can fix the connection's URL
    without reading logs; it never includes credentials or query strings.
    """

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"Refused to connect to '{_display(host)}': {reason}.")


class GuardError(NetguardError):
    """The destination was acceptable but the exchange failed (network, TLS, timeout, size, redirects).

    Messages are one readable line naming host and port only: never request headers, bodies or URLs
    with query strings, which may carry tokens.
    """


@dataclass(frozen=True)
class Target:
    """A checked destination: where to connect (``ip``) and what to call it (``host``)."""

    scheme: str
    host: str  # normalized: lowercase ASCII (IDNA) name, dotted-quad IPv4 or compressed IPv6
    port: int
    ip: str  # the pinned, checked address; the only one ever connected to
    path: str  # path and query, starting with "/"
    # Opened by a connection's own allowed networks (not the operator's): failures say nothing specific.
    discreet: bool = False

    @property
    def host_header(self) -> str:
        """``Host`` value: the original name (bracketed if IPv6), with the port unless it is the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


class _Headers(dict[str, str]):
    """A dict with lowercase keys whose lookups ignore case, because HTTP header names do."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class GuardedResponse:
    """A fully read, size-bounded response. ``headers`` lookups are case-insensitive."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str

    @property
    def text(self) -> str:
        """The body decoded with the charset the server declared (UTF-8 otherwise), never failing."""
        match = re.search(r"charset=[\"']?([\w.:-]+)", self.headers.get("content-type", ""), re.I)
        encoding = match.group(1) if match else "utf-8"
        try:
            return self.body.decode(encoding, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; a GuardError (without echoing the body) if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            content_type = self.headers.get("content-type", "none")
            raise GuardError(
                f"the response is not valid JSON (status {self.status}, content-type {content_type})"
            ) from None


# --------------------------------------------------------------------------------------------------
# Host normalization


def _display(value: str) -> str:
    """What a user gave, safe to show: non-printable characters escaped, long values truncated."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)
    return shown if len(shown) <= _DISPLAY_LIMIT else shown[: _DISPLAY_LIMIT - 1] + "…"


def _ends_in_number(label: str) -> bool:
    """WHATWG's rule: a host whose last label is numeric must be an IPv4 address or nothing."""
    return (label.isascii() and label.isdigit()) or bool(_HEX_NUMBER_RE.fullmatch(label))


def _parse_ipv4_part(part: str) -> int | None:
    """One part with inet_aton semantics: ``0x`` hex (``0x`` alone is 0), leading ``0`` octal, else decimal."""
    if part.startswith("0x"):
        digits = part[2:]
        if not digits:
            return 0
        return int(digits, 16) if all(c in "0123456789abcdef" for c in digits) else None
    if not (part.isascii() and part.isdigit()):
        return None
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if all(c in "01234567" for c in part) else None
    return int(part)


def _parse_legacy_ipv4(labels: list[str]) -> ipaddress.IPv4Address | None:
    """inet_aton: 1 to 4 parts, the last one filling all remaining bytes (``127.1``, ``2130706433``)."""
    if not 1 <= len(labels) <= 4:
        return None
    parts = [_parse_ipv4_part(label) for label in labels]
    if any(p is None for p in parts):
        return None
    numbers = [p for p in parts if p is not None]
    *leading, last = numbers
    if any(p > 255 for p in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, part in enumerate(leading):
        value += part << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _normalize(host: str) -> tuple[str, IPAddress | None]:
    """Normalize a host; also return the address when the host is an IP literal in any form."""
    given = host
    if not host:
        raise BlockedDestination(given, "the host name is empty")
    if host.startswith("[") or ":" in host:
        if host.startswith("["):
            if not host.endswith("]"):
                raise BlockedDestination(given, "it is not a valid IPv6 address")
            host = host[1:-1]
        if "%" in host:
            raise BlockedDestination(given, "IPv6 zone identifiers are not allowed")
        try:
            ip6 = ipaddress.IPv6Address(host)
        except ValueError:
            raise BlockedDestination(given, "it is not a valid IPv6 address") from None
        return ip6.compressed, ip6
    if any(not c.isprintable() or c.isspace() for c in host):
        raise BlockedDestination(given, "the host name contains whitespace or control characters")

    if host.isascii():
        mapped = host.lower()
    else:
        # UTS #46 mapping, as browsers do: fullwidth letters and digits, circled letters, ideographic
        # full stops all map to ASCII, so "ⓛⓞⓒⓐⓛⓗⓞⓢⓣ" is judged as the "localhost" it is.
        try:
            mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
        except (idna.IDNAError, ValueError):
            raise BlockedDestination(given, "it is not a valid international domain name") from None
    if mapped.endswith("."):
        mapped = mapped[:-1]
    labels = mapped.split(".")
    if _ends_in_number(labels[-1]):
        ip4 = _parse_legacy_ipv4(labels)
        if ip4 is None:
            raise BlockedDestination(given, "it is not a valid IPv4 address")
        return str(ip4), ip4

    ascii_labels = []
    for label in labels:
        if not label:
            raise BlockedDestination(given, "the host name has an empty label")
        try:
            if not label.isascii():
                label = idna.alabel(label).decode("ascii")
            elif label.startswith("xn--"):
                idna.ulabel(label)  # rejects invalid punycode
        except (idna.IDNAError, UnicodeError, ValueError):
            raise BlockedDestination(given, "it is not a valid international domain name") from None
        if not _LABEL_RE.fullmatch(label):
            raise BlockedDestination(given, "it is not a valid host name")
        ascii_labels.append(label)
    name = ".".join(ascii_labels)
    if len(name) > 253:
        raise BlockedDestination(given, "the host name is longer than 253 characters")
    return name, None


def normalize_host(host: str) -> str:
    """The canonical form of a host, so that every spelling of one destination compares equal.

    Lowercase, no trailing dot, IDNA (unicode and ``xn--``) as validated ASCII, IPv6 without brackets in
    compressed form, legacy IPv4 forms (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``) as dotted
    quads. Raises BlockedDestination for anything that is not a valid host (or carries a zone id).
    """
    return _normalize(host)[0]


# --------------------------------------------------------------------------------------------------
# Address policy


def _parse_networks(values: Iterable[str] | str | None, source: str) -> tuple[IPNetwork, ...]:
    """CIDRs from a list (or a comma/space separated string, as an environment variable would give)."""
    if not values:
        return ()
    if isinstance(values, str):
        values = [v for v in re.split(r"[\s,]+", values) if v]
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValueError(f"{source}: {str(value)[:60]!r} is not a valid network (expected CIDR)") from None
    return tuple(networks)


def _settings_networks() -> tuple[IPNetwork, ...]:
    """NETGUARD_ALLOWED_NETWORKS, read on every call so settings overrides (and tests) take effect."""
    if not settings.configured:
        return ()
    return _parse_networks(settings.NETGUARD_ALLOWED_NETWORKS, "NETGUARD_ALLOWED_NETWORKS")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, SIIT, compatible, NAT64, 6to4), which is what a
    dual-stack host, a translator or a relay would actually reach."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIIT or ip in _NAT64:
        return low32
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # "::" and "::1" are themselves, not 0.0.0.x
        return low32
    return None


def _classify(ip: IPAddress) -> tuple[str, bool] | None:
    table = REFUSED_IPV4 if ip.version == 4 else REFUSED_IPV6
    for network, description, unlockable in table:
        if ip in network:
            return description, unlockable
    if ip.version == 6 and ip.is_reserved:
        return "a reserved address", False
    return None


def _refusal(ip: IPAddress, call_networks: tuple[IPNetwork, ...], global_networks: tuple[IPNetwork, ...]) -> str | None:
    """Why ``ip`` is refused ("<ip>, a loopback address"), or None if it is acceptable."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = _refusal(inner, call_networks, global_networks)
            return f"{ip}, which embeds {why}" if why else None
    if ip in METADATA_ADDRESSES:
        return f"{ip}, a cloud metadata address"
    classified = _classify(ip)
    if classified is None:
        if ip in _host_addresses() and not any(ip in network for network in global_networks):
            return f"{ip}, an address of this host"
        return None
    description, unlockable = classified
    if any(ip in network for network in global_networks):
        return None
    in_call_networks = any(ip in network for network in call_networks)
    if in_call_networks and unlockable:
        return None
    if in_call_networks:
        return f"{ip}, {description}, which a connection's allowed networks cannot open"
    if call_networks and unlockable:
        return f"{ip}, {description} outside the connection's allowed networks"
    return f"{ip}, {description}"


_HOST_ADDRESSES_TTL = 30.0
_host_cache: tuple[float, frozenset[IPAddress]] = (0.0, frozenset())
_host_lock = threading.Lock()


def _host_addresses() -> frozenset[IPAddress]:
    """Every address on this host's interfaces (getifaddrs, secondary addresses included), refreshed
    every 30 seconds: a public or documentation address the server itself listens on is not a
    destination any connection may reach, whatever its range says."""
    global _host_cache
    now = time.monotonic()
    with _host_lock:
        if now - _host_cache[0] > _HOST_ADDRESSES_TTL:
            found: set[IPAddress] = set()
            for addresses in psutil.net_if_addrs().values():
                for entry in addresses:
                    if entry.family in (socket.AF_INET, socket.AF_INET6):
                        with contextlib.suppress(ValueError):
                            found.add(ipaddress.ip_address(entry.address.split("%", 1)[0]))
            _host_cache = (now, frozenset(found))
        return _host_cache[1]


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the resolver gives for ``host``, in its order, asked exactly once."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        detail = getattr(exc, "strerror", None) or type(exc).__name__
        raise GuardError(f"could not resolve host '{host}': {detail}") from exc
    addresses: list[IPAddress] = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        except ValueError:
            raise GuardError(f"the resolver returned an unusable address for '{host}'") from None
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise GuardError(f"could not resolve host '{host}': no IPv4 or IPv6 address")
    return addresses


# --------------------------------------------------------------------------------------------------
# URL checking


def _display_url(url: str) -> str:
    """A URL without userinfo and query, for messages about URLs that have no usable host."""
    shown = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = shown.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        shown = f"{scheme}://{rest.split('@', 1)[1]}"
    return shown


def _split_url(url: str) -> tuple[str, str, str, int, str]:
    """(scheme, host as given, host percent-decoded, port, path+query), parsed strictly rather than with urlsplit, whose
    leniency (stripping tabs and newlines, accepting backslashes) is what SSRF payloads rely on."""
    if not isinstance(url, str):
        raise TypeError("url must be a string")
    if any(ord(c) < 0x21 or ord(c) == 0x7F or c == "\\" for c in url):
        raise BlockedDestination(_display_url(url), "the URL contains whitespace, control characters or backslashes")
    match = _SCHEME_RE.match(url)
    scheme = match.group(1).lower() if match else ""
    if scheme not in DEFAULT_PORTS:
        reason = (
            f"only http and https URLs are allowed, not {scheme}" if scheme else "it is not an absolute http(s) URL"
        )
        raise BlockedDestination(_display_url(url), reason)
    rest = url[match.end() :] if match else url
    if not rest.startswith("//"):
        raise BlockedDestination(_display_url(url), "the URL has no host")
    rest = rest[2:]
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:].split("#", 1)[0]
    if "@" in authority:
        raise BlockedDestination(authority.rsplit("@", 1)[1], "credentials (user info) in URLs are not allowed")

    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise BlockedDestination(authority, "it is not a valid IPv6 address")
        host, after = authority[: close + 1], authority[close + 1 :]
        if after and not after.startswith(":"):
            raise BlockedDestination(authority, "it is not a valid host and port")
        port_text = after[1:]
    else:
        if authority.count(":") > 1:
            raise BlockedDestination(authority, "IPv6 addresses must be written in brackets")
        host, _, port_text = authority.partition(":")
    decoded = host
    if "%" in host and not host.startswith("["):
        # Browsers percent-decode hosts, so "127.0.0.%31" must be judged as the 127.0.0.1 it means.
        try:
            decoded = unquote(host, errors="strict")
        except UnicodeDecodeError:
            raise BlockedDestination(host, "it is not a valid host name") from None
    if not host:
        raise BlockedDestination(_display_url(url), "the URL has no host")
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise BlockedDestination(authority, "the port is not a number between 1 and 65535")
        port = int(port_text)
    else:
        port = DEFAULT_PORTS[scheme]
    path = tail if tail.startswith("/") else "/" + tail
    return scheme, host, decoded, port, quote(path, safe=_PATH_SAFE)


def check_url(url: str, *, allowed_networks: Iterable[str] = ()) -> Target:
    """Parse, normalize and resolve ``url`` once, check every address, return the pinned target.

    Raises BlockedDestination when the URL or any resolved address is refused, GuardError when the
    name cannot be resolved. The first resolved address is the pinned one; connect to ``Target.ip``
    only, never look the name up again.
    """
    call_networks = _parse_networks(allowed_networks, "allowed_networks")
    global_networks = _settings_networks()
    scheme, given_host, decoded_host, port, path = _split_url(url)
    try:
        host, literal = _normalize(decoded_host)
    except BlockedDestination as exc:
        raise BlockedDestination(given_host, exc.reason) from None
    if literal is not None:
        addresses: list[IPAddress] = [literal]
        verb = "it is"
    else:
        addresses = _resolve(host, port)
        verb = "it resolves to"
    for address in addresses:
        why = _refusal(address, call_networks, global_networks)
        if why:
            raise BlockedDestination(given_host, f"{verb} {why}")
    pinned = addresses[0]
    discreet = not pinned.is_global and not any(pinned in network for network in global_networks)
    return Target(scheme=scheme, host=host, port=port, ip=str(pinned), path=path, discreet=discreet)


# --------------------------------------------------------------------------------------------------
# Pinned connections


def _connect_pinned(ip: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to exactly this address: no getaddrinfo, hence no chance of a second answer."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout)
        sock.connect((ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedHTTPConnection(HTTPConnection):
    """urllib3's connection, with name resolution replaced by a connect to the pinned address."""

    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self.host, self.port, self.timeout)  # type: ignore[arg-type]


class _PinnedHTTPSConnection(HTTPSConnection):
    """Same, for TLS: urllib3 still does SNI and certificate checks against ``server_hostname``."""

    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self.host, self.port, self.timeout)  # type: ignore[arg-type]


def _default_ca_file() -> str | None:
    """certifi's bundle (what requests uses), so slim images without system CAs behave the same."""
    return certifi.where()


def _is_pem(value: str) -> bool:
    return "-----BEGIN " in value


@contextlib.contextmanager
def _client_cert_files(client_cert: tuple[str, str] | None) -> Iterator[tuple[str | None, str | None]]:
    """Paths for the TLS client certificate and key.

    Values may be file paths or PEM text (what a Kubernetes kubeconfig stores); PEM text is written
    to a private (0700) temporary directory, files 0600, removed as soon as the request is over,
    because the ssl module only loads client certificates from files.
    """
    if client_cert is None:
        yield None, None
        return
    cert, key = client_cert
    if not (_is_pem(cert) or _is_pem(key)):
        yield cert, key
        return
    directory = tempfile.mkdtemp(prefix="netguard-")
    try:
        paths = []
        for name, value in (("cert.pem", cert), ("key.pem", key)):
            if _is_pem(value):
                path = os.path.join(directory, name)
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                    handle.write(value)
                paths.append(path)
            else:
                paths.append(value)
        yield paths[0], paths[1]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class _Watchdog:
    """Enforces the total deadline: per-operation socket timeouts alone let a server that drips one
    byte per second keep us forever, so at the deadline the socket is shut down under the reader."""

    def __init__(self, deadline: float) -> None:
        self.fired = False
        self._deadline = deadline
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def arm(self, sock: socket.socket | None) -> None:
        """Start counting once connected; the connect itself is bounded by its own timeout."""
        self._sock = sock
        self._timer = threading.Timer(max(self._deadline - time.monotonic(), 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    # The plain socket's shutdown: SSLSocket.shutdown would tear down TLS state that
                    # the reading thread is still using.
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _describe_failure(exc: BaseException, where: str, timeout: float, timed_out: bool, connecting: bool) -> str:
    """A one-line reason for a failed exchange; built from the error type and reason codes only."""
    if connecting and isinstance(exc, TimeoutError):
        return f"{where} did not accept a connection within {timeout:g} seconds"
    if timed_out or isinstance(exc, TimeoutError):
        return f"{where} did not answer within {timeout:g} seconds"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {where} could not be verified: {exc.verify_message or exc.reason}"
    if isinstance(exc, CertificateError):
        return f"the TLS certificate of {where} does not match its host name"
    if isinstance(exc, ssl.SSLError):
        return f"TLS with {where} failed: {exc.reason or type(exc).__name__}"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the connection"
    if isinstance(exc, OSError):
        return f"could not talk to {where}: {exc.strerror or type(exc).__name__}"
    return f"{where} sent a broken response ({type(exc).__name__})"


def _exchange(
    target: Target,
    url: str,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    *,
    deadline: float,
    timeout: float,
    connect_timeout: float,
    max_bytes: int,
    ca_data: str | None,
    verify: bool,
    cert_file: str | None,
    key_file: str | None,
) -> GuardedResponse:
    """One request/response on a fresh connection to the pinned address."""
    where = f"[{target.host}]:{target.port}" if ":" in target.host else f"{target.host}:{target.port}"
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise GuardError(f"{where} did not answer within {timeout:g} seconds")
    conn: HTTPConnection
    if target.scheme == "https":
        conn = _PinnedHTTPSConnection(
            target.ip,
            target.port,
            timeout=min(connect_timeout, remaining),
            cert_reqs="CERT_REQUIRED" if verify else "CERT_NONE",
            ca_certs=_default_ca_file() if verify and not ca_data else None,
            ca_cert_data=ca_data if verify else None,
            server_hostname=target.host,
            assert_hostname=target.host if verify else False,
            cert_file=cert_file,
            key_file=key_file,
        )
    else:
        conn = _PinnedHTTPConnection(target.ip, target.port, timeout=min(connect_timeout, remaining))
    send = {"Host": target.host_header}
    send.update({k: v for k, v in headers.items() if k.lower() != "host"})
    watchdog = _Watchdog(deadline)
    response = None
    connecting = True
    try:
        try:
            conn.connect()
            connecting = False
            watchdog.arm(conn.sock)
            conn.timeout = max(deadline - time.monotonic(), 0.001)
            conn.request(method, target.path, body=body, headers=send, preload_content=False)
            conn.timeout = max(deadline - time.monotonic(), 0.001)
            response = conn.getresponse()
            length = response.headers.get("content-length", "")
            if method != "HEAD" and length.isdigit() and int(length) > max_bytes:
                raise GuardError(f"the response from {where} is larger than {max_bytes} bytes")
            chunks: list[bytes] = []
            received = 0
            while True:
                chunk = response.read1(_READ_CHUNK)
                if not chunk:
                    break
                received += len(chunk)
                if received > max_bytes:
                    raise GuardError(f"the response from {where} is larger than {max_bytes} bytes")
                chunks.append(chunk)
        except GuardError:
            raise
        except (OSError, Urllib3Error, HTTPException, CertificateError) as exc:
            if target.discreet:
                # At a private address, "refused" vs "timed out" vs "TLS failed" would tell an open port
                # from a closed one: a member could map the internal network with connection tests.
                raise GuardError(f"could not get an HTTP response from {where}") from exc
            limit = min(connect_timeout, remaining) if connecting else timeout
            raise GuardError(_describe_failure(exc, where, limit, watchdog.fired, connecting)) from exc
    finally:
        watchdog.cancel()
        if response is not None:
            response.close()
        conn.close()
    response_headers = _Headers((k.lower(), v) for k, v in response.headers.items())
    return GuardedResponse(status=response.status, headers=response_headers, body=b"".join(chunks), url=url)


def _check_arguments(method: str, headers: dict[str, str], timeout: float, connect_timeout: float) -> str:
    method = method.upper()
    if not _TOKEN_RE.fullmatch(method):
        raise ValueError("invalid HTTP method")
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN_RE.fullmatch(name):
            raise ValueError("invalid request header name")
        # Checked here so http.client never gets to build an error message that quotes the value.
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise ValueError(f"invalid value for request header '{name}'")
    if timeout <= 0 or connect_timeout <= 0:
        raise ValueError("timeouts must be positive")
    return method


def guarded_request(
    method: str,
    url: str,
    *,
    allowed_networks: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
    connect_timeout: float = 3.0,
    max_bytes: int = 1_048_576,
    max_redirects: int = 0,
    ca_data: str | None = None,
    verify: bool = True,
    client_cert: tuple[str, str] | None = None,
) -> GuardedResponse:
    """Send one HTTP(S) request to a user-supplied URL, safely.

    ``timeout`` bounds the whole call (all hops, connect to last byte); ``connect_timeout`` bounds
    each TCP connect and TLS handshake. Redirects are returned as responses unless ``max_redirects``
    > 0; each followed hop is checked again with ``check_url`` and, when it leaves the origin, keeps
    only credential-free headers. ``ca_data`` (PEM) replaces the default CA bundle; ``client_cert``
    is (cert, key), each a file path or PEM text. Raises BlockedDestination or GuardError.
    """
    send_headers = dict(headers or {})
    method = _check_arguments(method, send_headers, timeout, connect_timeout)
    if max_bytes < 0 or max_redirects < 0:
        raise ValueError("max_bytes and max_redirects must not be negative")
    if isinstance(body, str):
        body = body.encode("utf-8")
    allowed = tuple(allowed_networks) if not isinstance(allowed_networks, str) else (allowed_networks,)
    deadline = time.monotonic() + timeout
    target = check_url(url, allowed_networks=allowed)
    with _client_cert_files(client_cert) as (cert_file, key_file):
        hops = 0
        while True:
            response = _exchange(
                target,
                url,
                method,
                send_headers,
                body,
                deadline=deadline,
                timeout=timeout,
                connect_timeout=connect_timeout,
                max_bytes=max_bytes,
                ca_data=ca_data,
                verify=verify,
                cert_file=cert_file,
                key_file=key_file,
            )
            location = response.headers.get("location")
            if max_redirects == 0 or response.status not in REDIRECT_STATUSES or not location:
                return response
            if hops >= max_redirects:
                raise GuardError(f"{target.host_header} redirected more than {max_redirects} times")
            hops += 1
            url = urljoin(url, location.strip())
            next_target = check_url(url, allowed_networks=allowed)
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, body = ("HEAD" if method == "HEAD" else "GET"), None
                send_headers = {
                    k: v for k, v in send_headers.items() if k.lower() not in ("content-type", "content-length")
                }
            if next_target.origin != target.origin:
                send_headers = {k: v for k, v in send_headers.items() if k.lower() in CROSS_ORIGIN_SAFE_HEADERS}
            target = next_target
