"""Tests for the SSRF guard (core.netguard).

The central property is tested with a loopback listener that must receive nothing: every encoding of
loopback, metadata and private addresses is thrown at ``guarded_request`` and neither the listener nor
any socket ``connect`` call may see a single attempt. Real local HTTP(S) servers (opened through the
allow-list) then prove the guard still does its job as an HTTP client: pinning, SNI and certificate
checks, redirects, size and time limits.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core import netguard
from core.netguard import (
    BlockedDestination,
    GuardedResponse,
    GuardError,
    Target,
    check_url,
    guarded_request,
    normalize_host,
)

# --------------------------------------------------------------------------------------------------
# Fixtures: a listener that must stay silent, a connect spy, a fake resolver


class Listener:
    """A plain TCP server on 127.0.0.1 (and ::1 on the same port when possible) that records accepts."""

    def __init__(self) -> None:
        self.accepted: list[tuple] = []
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        v4.bind(("127.0.0.1", 0))
        v4.listen(64)
        self.port = v4.getsockname()[1]
        self._sockets = [v4]
        try:
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.bind(("::1", self.port))
            v6.listen(64)
            self._sockets.append(v6)
        except OSError:
            pass
        for sock in self._sockets:
            self._selector.register(sock, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                conn, peer = key.fileobj.accept()
                self.accepted.append(peer)
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for sock in self._sockets:
            sock.close()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    time.sleep(0.2)  # let the accept thread catch up with anything still in flight
    server.close()
    assert server.accepted == [], f"the loopback listener was reached: {server.accepted}"


@dataclass
class ConnectSpy:
    """Records every socket connect; refuses them unless ``passthrough`` says so (then they happen).

    ``passthrough`` is a bool or a predicate on the address, so a test can let loopback connects
    through (where a listener would notice them) while refusing the rest, which keeps tests
    independent of whatever the machine's network does with public addresses.
    """

    attempts: list = field(default_factory=list)
    passthrough: bool | Callable[[tuple], bool] = False

    def allows(self, address: tuple) -> bool:
        return self.passthrough(address) if callable(self.passthrough) else self.passthrough


@pytest.fixture
def connect_spy(monkeypatch) -> ConnectSpy:
    spy = ConnectSpy()
    real_connect = socket.socket.connect

    def connect(self, address):
        spy.attempts.append(address[:2])
        if not spy.allows(address):
            raise ConnectionRefusedError(111, "blocked by the test's connect spy")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: spy.attempts.append(address[:2]) or 111)
    return spy


class FakeDNS:
    """Answers registered names (one list of addresses per call, the last list repeating)."""

    def __init__(self, real) -> None:
        self.real = real
        self.answers: dict[str, list[list[str]]] = {}
        self.calls: list[str] = []

    def add(self, name: str, *rounds: list[str]) -> None:
        self.answers[name] = list(rounds)

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        self.calls.append(host)
        if host not in self.answers:
            return self.real(host, port, family, type, proto, flags)
        rounds = self.answers[host]
        ips = rounds.pop(0) if len(rounds) > 1 else rounds[0]
        result = []
        for ip in ips:
            if ":" in ip:
                result.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)))
            else:
                result.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)))
        return result


@pytest.fixture
def fake_dns(monkeypatch) -> FakeDNS:
    dns = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns


@pytest.fixture
def no_allowlist(settings) -> None:
    settings.NETGUARD_ALLOWED_NETWORKS = []


@pytest.fixture
def allow_loopback(settings) -> None:
    settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]


# --------------------------------------------------------------------------------------------------
# Fixtures: real local HTTP(S) servers


class Handler(BaseHTTPRequestHandler):
    """Routes for the tests; every request is recorded on the server."""

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_POST(self):
        self.do_GET()

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        request_body = self.rfile.read(length) if length else b""
        server = self.server
        server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
        port = server.server_address[1]
        scheme = "https" if server.tls else "http"
        if self.path == "/hello":
            self._send(200, b"hello from the test server", {"Content-Type": "text/plain; charset=utf-8"})
        elif self.path == "/version":
            self._send(200, json.dumps({"gitVersion": "v1.31.0"}).encode(), {"Content-Type": "application/json"})
        elif self.path == "/echo":
            payload = {"method": self.command, "headers": dict(self.headers), "body": request_body.decode()}
            self._send(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        elif self.path == "/redirect-meta":
            self._send(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif self.path == "/redirect-local":
            self._send(302, headers={"Location": "/hello"})
        elif self.path == "/redirect-twice":
            self._send(301, headers={"Location": f"{scheme}://127.0.0.1:{port}/redirect-local"})
        elif self.path == "/redirect-loop":
            self._send(302, headers={"Location": "/redirect-loop"})
        elif self.path == "/redirect-same":
            self._send(307, headers={"Location": "/echo"})
        elif self.path == "/redirect-other":
            self._send(307, headers={"Location": f"{scheme}://other-origin.test:{port}/echo"})
        elif self.path == "/see-other":
            self._send(303, headers={"Location": "/echo"})
        elif self.path == "/big":
            self._send(200, b"x" * (2 * 1024 * 1024))
        elif self.path == "/big-stream":
            self.send_response(200)
            self.end_headers()  # no Content-Length: the body ends when the connection closes
            for _ in range(32):
                self.wfile.write(b"y" * 65536)
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"z")
                self.wfile.flush()
                time.sleep(0.2)
        else:
            self._send(404, b"not found")


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # failed handshakes and broken pipes are expected
        pass


def start_server(ssl_context: ssl.SSLContext | None = None) -> QuietServer:
    server = QuietServer(("127.0.0.1", 0), Handler)
    server.requests = []
    server.tls = ssl_context is not None
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def http_server() -> Iterator[QuietServer]:
    server = start_server()
    yield server
    server.shutdown()
    server.server_close()


@dataclass
class PKI:
    ca_pem: str
    other_ca_pem: str
    server_cert: Path
    server_key: Path
    client_cert_pem: str
    client_key_pem: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA, valid for a day either side of now."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    client: bool = False,
) -> tuple[str, str]:
    """(cert PEM, key PEM) signed by the CA, for a server (SANs) or a client."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if dns or ips:
        names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    ca_key, ca_cert = make_ca("netguard test CA")
    _, other_ca_cert = make_ca("some other CA")
    cert_pem, key_pem = make_leaf(ca_key, ca_cert, "localhost", dns=("localhost",), ips=("127.0.0.1",))
    client_cert_pem, client_key_pem = make_leaf(ca_key, ca_cert, "netguard-client", client=True)
    directory = tmp_path_factory.mktemp("pki")
    (directory / "server.pem").write_text(cert_pem)
    (directory / "server.key").write_text(key_pem)
    return PKI(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM).decode(),
        other_ca_pem=other_ca_cert.public_bytes(serialization.Encoding.PEM).decode(),
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert_pem=client_cert_pem,
        client_key_pem=client_key_pem,
    )


def _tls_server(pki: PKI, *, require_client_cert: bool = False) -> QuietServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    sni_names: list[str | None] = []
    context.sni_callback = lambda sslobj, name, ctx: sni_names.append(name)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=pki.ca_pem)
    server = start_server(context)
    server.sni_names = sni_names
    return server


@pytest.fixture
def https_server(pki) -> Iterator[QuietServer]:
    server = _tls_server(pki)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def mtls_server(pki) -> Iterator[QuietServer]:
    server = _tls_server(pki, require_client_cert=True)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def run() -> None:
        sock.settimeout(0.05)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    sock.close()


# --------------------------------------------------------------------------------------------------
# The listener must receive nothing

PAYLOADS = [
    # loopback, in every spelling, aimed at the listener's port
    "http://127.0.0.1:{port}/",
    "http://127.0.0.1.:{port}",
    "http://2130706433:{port}/",
    "http://0x7f000001:{port}/",
    "http://0x7f.0.0.1:{port}/",
    "http://0x7f.1:{port}/",
    "http://0X7F.0X0.0X0.0X1:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://017700000001:{port}/",
    "http://0177.1:{port}/",
    "http://127.1:{port}/",
    "http://127.0.1:{port}/",
    "http://127.000.000.001:{port}/",
    "http://0x7f.0.1:{port}/",
    "http://127.0.0.254:{port}/",
    "http://[::1]:{port}/",
    "http://[0:0:0:0:0:0:0:1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/",
    "http://[::ffff:0:7f00:1]:{port}/",
    "http://[::127.0.0.1]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/",
    "http://[64:ff9b::127.0.0.1]:{port}/",
    "http://[2002:7f00:1::]:{port}/",
    "http://localhost:{port}/",
    "http://localhost.:{port}/",
    "http://LOCALHOST:{port}/",
    "http://LocalHost.:{port}/path?q=1",
    "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ:{port}/",
    "http://ｌｏｃａｌｈｏｓｔ:{port}/",  # noqa: RUF001 (fullwidth on purpose)
    "http://１２７.０.０.１:{port}/",  # noqa: RUF001 (fullwidth on purpose)
    "http://127。0。0。1:{port}/",
    "http://%6c%6f%63%61%6c%68%6f%73%74:{port}/",
    "http://127.0.0.%31:{port}/",
    "http://0:{port}/",
    "http://0.0.0.0:{port}/",
    "http://0x0:{port}/",
    "http://[::]:{port}/",
    "http://[fe80::1%25eth0]:{port}/",
    "http://[::1%25lo]:{port}/",
    # credentials, odd schemes, parser confusion
    "https://user:pw@127.0.0.1:{port}/",
    "http://user@localhost:{port}/",
    "http://example.com@127.0.0.1:{port}/",
    "http://example.com\\@127.0.0.1:{port}/",
    "http://127.0.0.1:{port}/\r\nX-Injected: 1",
    "http://127.0.0.1\t:{port}/",
    "gopher://127.0.0.1:{port}/_GET%20/",
    "dict://127.0.0.1:{port}/info",
    "ftp://127.0.0.1/",
    "file:///etc/passwd",
    "//127.0.0.1:{port}/",
    "127.0.0.1:{port}",
    "http:127.0.0.1:{port}/",
    "http://127.0.0.1:{port}:80/",
    "http://[::1]x:{port}/",
    # invalid numeric hosts are refused, never handed to a resolver to interpret
    "http://127.0.0.1.1:{port}/",
    "http://0x100000000:{port}/",
    "http://256.0.0.1:{port}/",
    "http://08.0.0.1:{port}/",
    # cloud metadata
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.169.254./latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://0xa9fea9fe/",
    "http://2852039166/",
    "http://0251.0376.0251.0376/",
    "http://169.254.43518/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://169.254.170.2/v2/credentials",
    "http://100.100.100.200/latest/meta-data/",
    "http://192.0.0.192/",
    "http://168.63.129.16/machine?comp=goalstate",
    # private, shared and special ranges
    "http://10.0.0.1/",
    "http://10.1/",
    "http://0xa000001/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fe80::1]/",
    "http://[ff02::1]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://[2002:c0a8:101::]/",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_is_refused_and_nothing_connects(payload, listener, connect_spy, no_allowlist):
    url = payload.format(port=listener.port)
    with pytest.raises(BlockedDestination) as excinfo:
        guarded_request("GET", url, timeout=1, connect_timeout=0.5)
    assert str(excinfo.value).startswith("Refused to connect to '")
    assert connect_spy.attempts == []
    assert listener.accepted == []


def test_there_are_enough_payloads():
    assert len(PAYLOADS) >= 40
    assert len(set(PAYLOADS)) == len(PAYLOADS)


def test_the_listener_would_have_noticed(allow_loopback, connect_spy):
    """The silence above means something: an allowed request to a listener is seen by it."""
    connect_spy.passthrough = True
    probe = Listener()
    try:
        with pytest.raises(GuardError):  # it accepts and hangs up without answering
            guarded_request("GET", f"http://127.0.0.1:{probe.port}/", timeout=2)
        deadline = time.monotonic() + 2
        while not probe.accepted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(probe.accepted) == 1
    finally:
        probe.close()


def test_messages_name_the_address_and_its_class(no_allowlist):
    with pytest.raises(BlockedDestination) as excinfo:
        check_url("http://0xa9fea9fe/")
    assert str(excinfo.value) == "Refused to connect to '0xa9fea9fe': it is 169.254.169.254, a cloud metadata address."
    with pytest.raises(BlockedDestination) as excinfo:
        check_url("http://[::ffff:7f00:1]:8080/")
    assert "embeds 127.0.0.1, a loopback address" in str(excinfo.value)
    with pytest.raises(BlockedDestination) as excinfo:
        check_url("gopher://127.0.0.1/")
    assert "only http and https" in str(excinfo.value)


def test_message_never_shows_credentials_or_query(no_allowlist):
    with pytest.raises(BlockedDestination) as excinfo:
        check_url("https://admin:hunter2@gitlab.example.com/?private_token=abc")
    assert "hunter2" not in str(excinfo.value)
    assert "private_token" not in str(excinfo.value)
    with pytest.raises(BlockedDestination) as excinfo:
        check_url("ftp://x:hunter2@host/?token=abc")
    assert "hunter2" not in str(excinfo.value)
    assert "token" not in str(excinfo.value)


def test_long_hosts_are_truncated_in_messages(no_allowlist):
    with pytest.raises(BlockedDestination) as excinfo:
        check_url("http://" + "a" * 300 + ".example/")
    assert len(str(excinfo.value)) < 200


# --------------------------------------------------------------------------------------------------
# Normalization


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("GitLab.Example.com", "gitlab.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
        ("ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", "localhost"),
        ("ｌｏｃａｌｈｏｓｔ。", "localhost"),  # noqa: RUF001 (fullwidth on purpose)
        ("under_score.internal", "under_score.internal"),
        ("[::1]", "::1"),
        ("[::FFFF:127.0.0.1]", "::ffff:7f00:1"),
        ("[2001:DB8:0:0:0:0:0:1]", "2001:db8::1"),
        ("::1", "::1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("1.2.3.4.", "1.2.3.4"),
        ("１２７。０。０。１", "127.0.0.1"),  # noqa: RUF001 (fullwidth on purpose)
        ("4294967295", "255.255.255.255"),
    ],
)
def test_normalize_host(given, expected):
    assert normalize_host(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "empty"),
        ("[fe80::1%25eth0]", "zone"),
        ("fe80::1%eth0", "zone"),
        ("[::1", "IPv6"),
        ("[not-ipv6]", "IPv6"),
        ("xn--zz.example", "international"),
        ("a..b", "empty label"),
        ("-leading.example", "host name"),
        ("exa mple.com", "whitespace"),
        ("a/b.example", "host name"),
        ("1.2.3.4.5", "IPv4"),
        ("4294967296", "IPv4"),
        ("256.1.1.1", "IPv4"),
        ("09.1.1.1", "IPv4"),
        ("example.0x10", "IPv4"),
        ("example.123", "IPv4"),
        ("a" * 64 + ".example", "host name"),
        (("a" * 60 + ".") * 5 + "example", "253"),
        ("💩.example", "international"),
    ],
)
def test_normalize_host_rejects(given, reason):
    with pytest.raises(BlockedDestination) as excinfo:
        normalize_host(given)
    assert reason in str(excinfo.value)


# --------------------------------------------------------------------------------------------------
# Resolution: once, every address checked, the checked one pinned


def test_name_resolving_to_metadata_is_refused(fake_dns, no_allowlist, connect_spy):
    fake_dns.add("metadata.attacker.test", ["169.254.169.254"])
    with pytest.raises(BlockedDestination) as excinfo:
        guarded_request("GET", "http://metadata.attacker.test/latest/meta-data/")
    assert str(excinfo.value) == (
        "Refused to connect to 'metadata.attacker.test': it resolves to 169.254.169.254, a cloud metadata address."
    )
    assert connect_spy.attempts == []


def test_name_with_one_private_address_among_public_ones_is_refused(fake_dns, no_allowlist):
    fake_dns.add("mixed.attacker.test", ["93.184.216.34", "10.0.0.5", "93.184.216.35"])
    with pytest.raises(BlockedDestination) as excinfo:
        check_url("https://mixed.attacker.test/")
    assert "it resolves to 10.0.0.5, a private address" in str(excinfo.value)


def test_name_with_a_loopback_ipv6_answer_is_refused(fake_dns, no_allowlist):
    fake_dns.add("dual.attacker.test", ["93.184.216.34", "::1"])
    with pytest.raises(BlockedDestination):
        check_url("https://dual.attacker.test/")


def test_link_local_answer_with_scope_id_is_refused(fake_dns, no_allowlist):
    fake_dns.add("scoped.attacker.test", ["fe80::1%eth0"])
    with pytest.raises(BlockedDestination) as excinfo:
        check_url("https://scoped.attacker.test/")
    assert "link-local" in str(excinfo.value)


def test_public_name_is_pinned_to_the_first_answer(fake_dns, no_allowlist):
    fake_dns.add("gitlab.example.test", ["93.184.216.34", "93.184.216.35"])
    target = check_url("https://GitLab.Example.Test./api/v4/version?x=1#frag")
    assert target == Target(
        scheme="https", host="gitlab.example.test", port=443, ip="93.184.216.34", path="/api/v4/version?x=1"
    )
    assert target.host_header == "gitlab.example.test"
    assert fake_dns.calls == ["gitlab.example.test"]


def test_ip_literals_are_not_resolved(fake_dns, no_allowlist):
    target = check_url("http://[2606:4700::1111]:8006/api2/json")
    assert (target.ip, target.port, target.host_header) == ("2606:4700::1111", 8006, "[2606:4700::1111]:8006")
    assert check_url("https://0x5db8d822/").ip == "93.184.216.34"
    assert fake_dns.calls == []


def test_unresolvable_name_is_a_guard_error(fake_dns, no_allowlist):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    fake_dns.real = fail
    with pytest.raises(GuardError) as excinfo:
        check_url("https://does-not-exist.example.test/")
    assert "could not resolve host 'does-not-exist.example.test'" in str(excinfo.value)


def test_dns_rebinding_cannot_switch_the_address(fake_dns, listener, connect_spy, allow_loopback):
    """The resolver answers public first and loopback afterwards; only the first answer is ever used,
    even though the allow-list would accept loopback, because there is no second lookup. Loopback
    connects really happen (so the listener would see one); the public one fails like a dead network."""
    connect_spy.passthrough = lambda address: ipaddress.ip_address(address[0]).is_loopback
    fake_dns.add("rebind.attacker.test", ["93.184.216.34"], ["127.0.0.1"])
    started = time.monotonic()
    with pytest.raises(GuardError):
        guarded_request("GET", f"http://rebind.attacker.test:{listener.port}/", timeout=1, connect_timeout=0.3)
    assert time.monotonic() - started < 2
    assert fake_dns.calls == ["rebind.attacker.test"]
    assert connect_spy.attempts == [("93.184.216.34", listener.port)]
    assert listener.accepted == []


def test_pinned_connection_does_not_resolve_again(fake_dns, http_server, allow_loopback, connect_spy):
    connect_spy.passthrough = True
    port = http_server.server_address[1]
    fake_dns.add("gitlab.internal.test", ["127.0.0.1"], ["203.0.113.99"])
    response = guarded_request("GET", f"http://gitlab.internal.test:{port}/hello")
    assert response.status == 200
    assert fake_dns.calls == ["gitlab.internal.test"]
    assert connect_spy.attempts == [("127.0.0.1", port)]
    assert http_server.requests[0]["headers"]["Host"] == f"gitlab.internal.test:{port}"


def test_ipv6_pinned_connection(settings):
    settings.NETGUARD_ALLOWED_NETWORKS = ["::1/128"]

    class V6Server(QuietServer):
        address_family = socket.AF_INET6

    try:
        server = V6Server(("::1", 0), Handler)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    server.requests, server.tls = [], False
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        port = server.server_address[1]
        response = guarded_request("GET", f"http://[0:0::1]:{port}/hello")
        assert response.status == 200
        assert server.requests[0]["headers"]["Host"] == f"[::1]:{port}"
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------------------------------
# Allow-lists


def test_allow_listed_local_server_is_reachable(http_server, allow_loopback):
    port = http_server.server_address[1]
    response = guarded_request("GET", f"http://127.0.0.1:{port}/hello", headers={"Accept": "text/plain"})
    assert isinstance(response, GuardedResponse)
    assert response.status == 200
    assert response.body == b"hello from the test server"
    assert response.text == "hello from the test server"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["content-type"] == response.headers.get("CONTENT-TYPE")
    assert response.url == f"http://127.0.0.1:{port}/hello"
    received = http_server.requests[0]
    assert received["path"] == "/hello"
    assert received["headers"]["Host"] == f"127.0.0.1:{port}"
    assert received["headers"]["Accept"] == "text/plain"


def test_caller_cannot_override_the_host_header(http_server, allow_loopback):
    port = http_server.server_address[1]
    guarded_request("GET", f"http://127.0.0.1:{port}/hello", headers={"host": "internal.admin"})
    assert http_server.requests[0]["headers"]["Host"] == f"127.0.0.1:{port}"


def test_post_with_body_and_json(http_server, allow_loopback):
    port = http_server.server_address[1]
    response = guarded_request(
        "post", f"http://127.0.0.1:{port}/echo", body=b'{"a": 1}', headers={"Content-Type": "application/json"}
    )
    assert response.json()["method"] == "POST"
    assert response.json()["body"] == '{"a": 1}'


def test_invalid_json_is_a_guard_error(http_server, allow_loopback):
    port = http_server.server_address[1]
    response = guarded_request("GET", f"http://127.0.0.1:{port}/hello")
    with pytest.raises(GuardError) as excinfo:
        response.json()
    assert "hello" not in str(excinfo.value)


def test_connection_allowed_networks(no_allowlist):
    target = check_url("https://192.168.50.10:8006/api2/json", allowed_networks=["192.168.50.0/24"])
    assert target.ip == "192.168.50.10"
    with pytest.raises(BlockedDestination) as excinfo:
        check_url("https://192.168.51.10:8006/", allowed_networks=["192.168.50.0/24"])
    assert "outside the connection's allowed networks" in str(excinfo.value)
    with pytest.raises(BlockedDestination):
        check_url("https://192.168.50.10:8006/")


def test_connection_allowed_networks_accept_embedded_forms_and_names(fake_dns, no_allowlist):
    assert check_url("https://[::ffff:192.168.50.10]/", allowed_networks=["192.168.50.0/24"]).ip == "::ffff:c0a8:320a"
    fake_dns.add("vcenter.corp.test", ["192.168.50.20"])
    assert check_url("https://vcenter.corp.test/sdk", allowed_networks=["192.168.50.0/24"]).ip == "192.168.50.20"


def test_metadata_stays_refused_whatever_the_allow_lists_say(settings, fake_dns):
    settings.NETGUARD_ALLOWED_NETWORKS = ["0.0.0.0/0", "::/0"]
    fake_dns.add("meta.attacker.test", ["169.254.169.254"])
    for url in (
        "http://169.254.169.254/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://meta.attacker.test/",
    ):
        with pytest.raises(BlockedDestination) as excinfo:
            check_url(url, allowed_networks=["169.254.0.0/16", "fd00::/8", "100.64.0.0/10"])
        assert "cloud metadata address" in str(excinfo.value)


def test_connection_allowed_networks_cannot_open_loopback_or_link_local(no_allowlist):
    for url, network in (
        ("http://127.0.0.1/", "127.0.0.0/8"),
        ("http://169.254.1.1/", "169.254.0.0/16"),
        ("http://[::1]/", "::1/128"),
        ("http://0.0.0.0/", "0.0.0.0/0"),
    ):
        with pytest.raises(BlockedDestination) as excinfo:
            check_url(url, allowed_networks=[network])
        assert "cannot open" in str(excinfo.value)


def test_setting_may_be_a_comma_separated_string(settings):
    settings.NETGUARD_ALLOWED_NETWORKS = "127.0.0.1/32, 10.0.0.0/8"
    assert check_url("http://10.1.2.3/").ip == "10.1.2.3"
    assert check_url("http://127.0.0.1:8080/").ip == "127.0.0.1"


def test_invalid_networks_are_a_value_error(settings):
    settings.NETGUARD_ALLOWED_NETWORKS = []
    with pytest.raises(ValueError, match="allowed_networks"):
        check_url("http://10.0.0.1/", allowed_networks=["not-a-network"])
    settings.NETGUARD_ALLOWED_NETWORKS = ["10.0.0.0/33"]
    with pytest.raises(ValueError, match="NETGUARD_ALLOWED_NETWORKS"):
        check_url("http://10.0.0.1/")


def test_public_addresses_are_acceptable(no_allowlist):
    for url in ("https://93.184.216.34/", "https://[2606:4700::1111]/", "http://8.8.8.8:53/"):
        assert check_url(url).scheme in ("http", "https")


@pytest.mark.parametrize(
    "host",
    [
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.10",
        "[2001:db8::1]",
        "[3fff::5]",
        "[::ffff:203.0.113.10]",
        "0.0.0.0",
        "0",
        "0.1.2.3",
        "[::ffff:0.0.0.0]",
    ],
)
def test_documentation_and_this_network_addresses_are_refused(no_allowlist, host):
    with pytest.raises(BlockedDestination, match=r"documentation|unspecified"):
        check_url(f"http://{host}/")


def test_the_hosts_own_interface_addresses_are_refused(no_allowlist, monkeypatch):
    """This machine's eth0 is in a documentation range; a public address on an interface must be refused too."""
    monkeypatch.setattr(netguard, "_host_addresses", lambda: frozenset({ipaddress.ip_address("93.184.216.34")}))
    with pytest.raises(BlockedDestination, match=r"93\.184\.216\.34, an address of this host"):
        check_url("https://93.184.216.34/")


def test_the_real_interface_addresses_are_read(no_allowlist):
    real = netguard._host_addresses()
    assert ipaddress.ip_address("127.0.0.1") in real  # getifaddrs really ran
    for address in real:
        if not address.is_loopback and not address.is_link_local:
            host = f"[{address}]" if address.version == 6 else str(address)
            with pytest.raises(BlockedDestination):
                check_url(f"http://{host}/")


def test_an_operator_allowlist_still_opens_a_host_address(settings, monkeypatch):
    monkeypatch.setattr(netguard, "_host_addresses", lambda: frozenset({ipaddress.ip_address("93.184.216.34")}))
    settings.NETGUARD_ALLOWED_NETWORKS = ["93.184.216.34/32"]
    assert check_url("https://93.184.216.34/").ip == "93.184.216.34"


# --------------------------------------------------------------------------------------------------
# HTTPS: pinned address, original name for SNI and certificate


@pytest.fixture
def localhost_v4(fake_dns) -> FakeDNS:
    """localhost as 127.0.0.1 only, whatever /etc/hosts says about ::1 on this machine."""
    fake_dns.add("localhost", ["127.0.0.1"])
    fake_dns.add("other-origin.test", ["127.0.0.1"])
    fake_dns.add("wrong-name.test", ["127.0.0.1"])
    return fake_dns


def test_https_with_custom_ca(https_server, pki, allow_loopback, localhost_v4):
    port = https_server.server_address[1]
    response = guarded_request("GET", f"https://localhost:{port}/version", ca_data=pki.ca_pem)
    assert response.status == 200
    assert response.json() == {"gitVersion": "v1.31.0"}
    assert https_server.sni_names == ["localhost"]
    assert https_server.requests[0]["headers"]["Host"] == f"localhost:{port}"
    assert localhost_v4.calls == ["localhost"]


def test_https_to_an_ip_literal_checks_the_ip_san(https_server, pki, allow_loopback):
    port = https_server.server_address[1]
    response = guarded_request("GET", f"https://127.0.0.1:{port}/version", ca_data=pki.ca_pem)
    assert response.status == 200


def test_https_with_the_wrong_ca_fails(https_server, pki, allow_loopback, localhost_v4):
    port = https_server.server_address[1]
    with pytest.raises(GuardError) as excinfo:
        guarded_request("GET", f"https://localhost:{port}/version", ca_data=pki.other_ca_pem)
    assert "certificate" in str(excinfo.value)
    assert https_server.requests == []


def test_https_default_cas_do_not_trust_a_private_ca(https_server, allow_loopback, localhost_v4):
    port = https_server.server_address[1]
    with pytest.raises(GuardError, match="certificate"):
        guarded_request("GET", f"https://localhost:{port}/version")


def test_https_checks_the_original_name_not_the_pinned_ip(https_server, pki, allow_loopback, localhost_v4):
    port = https_server.server_address[1]
    with pytest.raises(GuardError) as excinfo:
        guarded_request("GET", f"https://wrong-name.test:{port}/version", ca_data=pki.ca_pem)
    assert "certificate" in str(excinfo.value)
    assert https_server.requests == []


def test_https_without_verification(https_server, pki, allow_loopback, localhost_v4):
    port = https_server.server_address[1]
    response = guarded_request("GET", f"https://wrong-name.test:{port}/version", ca_data=pki.other_ca_pem, verify=False)
    assert response.status == 200


def test_https_client_certificate_from_pem_text(mtls_server, pki, allow_loopback, localhost_v4, monkeypatch):
    created: list[str] = []
    real_mkdtemp = netguard.tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        created.append(real_mkdtemp(*args, **kwargs))
        return created[-1]

    monkeypatch.setattr(netguard.tempfile, "mkdtemp", mkdtemp)
    port = mtls_server.server_address[1]
    response = guarded_request(
        "GET",
        f"https://localhost:{port}/version",
        ca_data=pki.ca_pem,
        client_cert=(pki.client_cert_pem, pki.client_key_pem),
    )
    assert response.status == 200
    assert len(created) == 1
    assert not os.path.exists(created[0])


def test_https_client_certificate_from_files(mtls_server, pki, allow_loopback, localhost_v4, tmp_path):
    (tmp_path / "client.pem").write_text(pki.client_cert_pem)
    (tmp_path / "client.key").write_text(pki.client_key_pem)
    port = mtls_server.server_address[1]
    response = guarded_request(
        "GET",
        f"https://localhost:{port}/version",
        ca_data=pki.ca_pem,
        client_cert=(str(tmp_path / "client.pem"), str(tmp_path / "client.key")),
    )
    assert response.status == 200


def test_https_missing_client_certificate_fails(mtls_server, pki, allow_loopback, localhost_v4):
    port = mtls_server.server_address[1]
    with pytest.raises(GuardError):
        guarded_request("GET", f"https://localhost:{port}/version", ca_data=pki.ca_pem)


# --------------------------------------------------------------------------------------------------
# Redirects


def test_redirects_are_not_followed_by_default(http_server, allow_loopback):
    port = http_server.server_address[1]
    response = guarded_request("GET", f"http://127.0.0.1:{port}/redirect-meta")
    assert response.status == 302
    assert response.headers["Location"] == "http://169.254.169.254/latest/meta-data/"


def test_redirect_to_metadata_is_refused(http_server, allow_loopback, connect_spy):
    connect_spy.passthrough = True
    port = http_server.server_address[1]
    with pytest.raises(BlockedDestination) as excinfo:
        guarded_request("GET", f"http://127.0.0.1:{port}/redirect-meta", max_redirects=2)
    assert "169.254.169.254, a cloud metadata address" in str(excinfo.value)
    assert connect_spy.attempts == [("127.0.0.1", port)]


def test_redirect_to_an_allowed_local_path_is_followed(http_server, allow_loopback):
    port = http_server.server_address[1]
    response = guarded_request("GET", f"http://127.0.0.1:{port}/redirect-twice", max_redirects=2)
    assert response.status == 200
    assert response.body == b"hello from the test server"
    assert response.url == f"http://127.0.0.1:{port}/hello"
    assert [r["path"] for r in http_server.requests] == ["/redirect-twice", "/redirect-local", "/hello"]


def test_too_many_redirects(http_server, allow_loopback):
    port = http_server.server_address[1]
    with pytest.raises(GuardError, match="redirected more than 3 times"):
        guarded_request("GET", f"http://127.0.0.1:{port}/redirect-loop", max_redirects=3)
    assert len(http_server.requests) == 4
    with pytest.raises(GuardError, match="more than 1 times"):
        guarded_request("GET", f"http://127.0.0.1:{port}/redirect-twice", max_redirects=1)


def test_same_origin_redirect_keeps_credentials(http_server, allow_loopback):
    port = http_server.server_address[1]
    response = guarded_request(
        "GET", f"http://127.0.0.1:{port}/redirect-same", headers={"PRIVATE-TOKEN": "glpat-x"}, max_redirects=1
    )
    assert response.json()["headers"]["PRIVATE-TOKEN"] == "glpat-x"


def test_cross_origin_redirect_drops_credentials(http_server, allow_loopback, localhost_v4):
    port = http_server.server_address[1]
    response = guarded_request(
        "GET",
        f"http://127.0.0.1:{port}/redirect-other",
        headers={"Authorization": "Bearer secret", "PRIVATE-TOKEN": "glpat-x", "Cookie": "a=b", "Accept": "x/y"},
        max_redirects=1,
    )
    received = {k.lower(): v for k, v in response.json()["headers"].items()}
    assert "authorization" not in received
    assert "private-token" not in received
    assert "cookie" not in received
    assert received["accept"] == "x/y"
    assert received["host"] == f"other-origin.test:{port}"


def test_see_other_turns_post_into_get(http_server, allow_loopback):
    port = http_server.server_address[1]
    response = guarded_request(
        "POST", f"http://127.0.0.1:{port}/see-other", body=b"payload", headers={"Content-Type": "x/y"}, max_redirects=1
    )
    assert response.json()["method"] == "GET"
    assert response.json()["body"] == ""


# --------------------------------------------------------------------------------------------------
# Size and time limits, error messages


@pytest.mark.parametrize("path", ["/big", "/big-stream"])
def test_response_larger_than_max_bytes(http_server, allow_loopback, path):
    port = http_server.server_address[1]
    with pytest.raises(GuardError, match="larger than 1048576 bytes"):
        guarded_request("GET", f"http://127.0.0.1:{port}{path}", max_bytes=1_048_576)
    response = guarded_request("GET", f"http://127.0.0.1:{port}{path}", max_bytes=3 * 1024 * 1024)
    assert len(response.body) == 2 * 1024 * 1024


def test_server_that_never_answers_times_out(silent_server, allow_loopback):
    started = time.monotonic()
    with pytest.raises(GuardError) as excinfo:
        guarded_request(
            "POST",
            f"http://127.0.0.1:{silent_server}/",
            headers={"Authorization": "Bearer sekrit-token-value"},
            body=b"sekrit-body",
            timeout=1,
        )
    elapsed = time.monotonic() - started
    assert 0.8 < elapsed < 2.5
    message = str(excinfo.value)
    assert "did not answer within 1 seconds" in message
    assert "sekrit" not in message


def test_dripping_server_is_cut_at_the_total_deadline(http_server, allow_loopback):
    """One byte every 0.2 s never trips a per-read timeout; the total deadline still holds."""
    port = http_server.server_address[1]
    started = time.monotonic()
    with pytest.raises(GuardError, match="did not answer within 1 seconds"):
        guarded_request("GET", f"http://127.0.0.1:{port}/drip", timeout=1)
    assert time.monotonic() - started < 2.5


def test_closed_port_is_a_guard_error(allow_loopback):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(GuardError) as excinfo:
        guarded_request("GET", f"http://127.0.0.1:{port}/")
    assert str(excinfo.value) == f"127.0.0.1:{port} refused the connection"


def test_argument_errors_do_not_echo_header_values(allow_loopback):
    with pytest.raises(ValueError) as excinfo:
        guarded_request("GET", "http://127.0.0.1:1/", headers={"Authorization": "Bearer x\r\nInjected: 1"})
    assert "Bearer" not in str(excinfo.value)
    with pytest.raises(ValueError):
        guarded_request("GET / HTTP/1.1\r\n", "http://127.0.0.1:1/")
