"""A reusable local HTTP(S) server for faking provider APIs in tests.

Connection tests must exercise the real HTTP path (the SSRF guard, TLS verification, client
certificates, timeouts) rather than a mocked client, so each provider gets a tiny server that speaks
just the routes its check uses. This module holds what they share:

* `CertificateAuthority`: a throwaway CA made with `cryptography`, issuing server certificates for
  127.0.0.1/localhost (or any address) and client certificates, so TLS is verified for real.
* `FakeServer`: a threaded server on a random port with a route table, a log of every request it
  received (headers, body, verified client certificate), optional TLS and optional client
  certificates (``ssl.CERT_OPTIONAL`` against its CA: a fake can accept a token *or* a certificate).

A fake subclasses `FakeServer` and returns its routes from `routes()`; tests use it as a context
manager and assert on `requests` afterwards (e.g. "the session was deleted", "exactly this header").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import re
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertificateAuthority",
    "FakeServer",
    "RecordedRequest",
    "Reply",
    "Route",
    "json_reply",
    "site_local_addresses",
]

_MAX_BODY = 1024 * 1024
# Networks the SSRF guard lets a connection's own subnet open (never loopback or link-local).
_SITE_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


# --------------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------------


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


class CertificateAuthority:
    """A self-signed CA for one test (or one fake); everything it issues lives a day.

    Certificates carry the extensions strict verifiers insist on (key usage, SKI/AKI, SAN for
    servers), so the same fakes keep working when Python's default verification gets stricter.
    """

    def __init__(self, name: str = "Fake Test CA") -> None:
        self.name = name
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        public = self._key.public_key()
        builder = (
            self._builder(subject, subject, public)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        )  # fmt: skip
        self.certificate = builder.sign(self._key, hashes.SHA256())
        self.cert_pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @staticmethod
    def _builder(subject: x509.Name, issuer: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
        )

    def _issue(self, common_name: str, usage: x509.ObjectIdentifier, sans: Iterable[str]) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = (
            self._builder(subject, self.certificate.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        names = [_san(host) for host in sans]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)

    def issue_server(self, hosts: Iterable[str] = ("127.0.0.1", "localhost")) -> tuple[str, str]:
        """``(certificate PEM, key PEM)`` for a TLS server answering on `hosts` (IPs or names)."""
        hosts = list(hosts)
        return self._issue(hosts[0], ExtendedKeyUsageOID.SERVER_AUTH, hosts)

    def issue_client(self, common_name: str) -> tuple[str, str]:
        """``(certificate PEM, key PEM)`` for a TLS client; Kubernetes reads the user from the CN."""
        return self._issue(common_name, ExtendedKeyUsageOID.CLIENT_AUTH, ())


# --------------------------------------------------------------------------------------------------
# Requests and replies
# --------------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the fake received it; `client_cert` is the verified peer certificate, if any."""

    method: str
    path: str  # raw path without the query string (percent-encoding kept)
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client_cert: dict[str, Any] | None = None

    def header(self, name: str) -> str | None:
        """A header's value, looked up case-insensitively as HTTP intends."""
        lowered = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == lowered), None)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def client_common_name(self) -> str | None:
        """The verified client certificate's CN (what Kubernetes uses as the user name)."""
        for rdn in (self.client_cert or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return value
        return None


@dataclass
class Reply:
    """What a route answers; `reason` overrides the status line's phrase (Proxmox puts its message there)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None, *, reason: str | None = None) -> Reply:
    """A JSON reply with the right content type."""
    return Reply(
        status=status,
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        reason=reason,
    )


Handler = Callable[[RecordedRequest, re.Match[str]], Reply]


@dataclass(frozen=True)
class Route:
    """`pattern` is a regular expression matched against the whole raw path."""

    method: str
    pattern: str
    handler: Handler


# --------------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _dispatch(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, _MAX_BODY)) if length else b""
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers=dict(self.headers.items()),
            body=body,
            client_cert=peer or None,
        )
        fake.record(request)
        if fake.delay:  # a slow provider, for timeout tests
            time.sleep(fake.delay)
        try:
            reply = fake.dispatch(request)
        except Exception as exc:  # a bug in a fake must show up as a 500, not a hung client
            reply = json_reply(500, {"message": f"fake error: {type(exc).__name__}: {exc}"})
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status, reply.reason)
        headers = {"Connection": "close", **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record, and stderr noise hides real test failures."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Bound before the server thread starts; tests may start and stop many fakes quickly.
    allow_reuse_address = True

    def __init__(self, fake: FakeServer, address: tuple[str, int], family: socket.AddressFamily) -> None:
        self.fake = fake
        self.address_family = family
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Do the TLS handshake in the request's thread, so one stuck client cannot block accept()."""
        request.settimeout(10)
        context = self.fake.ssl_context
        if context is None:
            super().finish_request(request, client_address)
            return
        try:
            tls = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.fake.tls_failures.append(f"{type(exc).__name__}: {exc}")
            return
        try:
            super().finish_request(tls, client_address)
        except (ssl.SSLError, OSError) as exc:  # e.g. a client certificate rejected after a TLS 1.3 handshake
            self.fake.tls_failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up early are expected (refused certificates, timeouts): not an error here."""


class FakeServer:
    """Base of every provider fake: routes, a request log, optional TLS and client certificates.

    ``tls=True`` serves HTTPS with a certificate from `ca` (a new CA when not given) for `host`;
    ``client_certs=True`` asks clients for a certificate signed by `client_ca` (default: `ca`) with
    ``ssl.CERT_OPTIONAL``, so requests without one still arrive (bearer tokens) while a certificate
    from another CA fails the handshake, as on a real API server.
    """

    #: Names the fake's thread and its default CA.
    service = "fake"
    #: Seconds to wait before answering each request (set it to test timeouts).
    delay: float = 0.0

    def __init__(
        self,
        *,
        tls: bool = False,
        ca: CertificateAuthority | None = None,
        client_certs: bool = False,
        client_ca: CertificateAuthority | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.tls = tls or client_certs
        self.ca = ca or (CertificateAuthority(f"{self.service} test CA") if self.tls else None)
        self.client_ca = (client_ca or self.ca) if client_certs else None
        self.requests: list[RecordedRequest] = []
        self.tls_failures: list[str] = []
        self.ssl_context: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self._routes: list[Route] = list(self.routes())
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- to override -------------------------------------------------------------------------------

    def routes(self) -> Iterable[Route]:
        """The routes this fake answers; subclasses return `Route`s bound to their methods."""
        return ()

    def not_found(self, request: RecordedRequest) -> Reply:
        """The answer for a path no route matches (each API has its own 404 body)."""
        return json_reply(404, {"message": "Not Found"})

    # -- routing and log ---------------------------------------------------------------------------

    def dispatch(self, request: RecordedRequest) -> Reply:
        path_matched = False
        for route in self._routes:
            match = re.fullmatch(route.pattern, request.path)
            if match is None:
                continue
            path_matched = True
            if route.method == request.method:
                return route.handler(request, match)
        if path_matched:
            return json_reply(405, {"message": "Method Not Allowed"})
        return self.not_found(request)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """Requests received for exactly this method and raw path."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.tls_failures.clear()

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def ca_pem(self) -> str:
        """The PEM a client must trust to verify this fake's certificate."""
        if self.ca is None:
            raise RuntimeError(f"{type(self).__name__} serves plain HTTP: there is no CA to trust.")
        return self.ca.cert_pem

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started.")
        port = self._server.server_address[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def _make_ssl_context(self) -> ssl.SSLContext:
        assert self.ca is not None
        cert_pem, key_pem = self.ca.issue_server((self.host, "localhost"))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # load_cert_chain only reads files: keep them for the instant it takes, in a private directory.
        with tempfile.TemporaryDirectory(prefix="fake-tls-") as directory:
            cert_file, key_file = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
            for path, content in ((cert_file, cert_pem), (key_file, key_pem)):
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                    handle.write(content)
            context.load_cert_chain(cert_file, key_file)
        if self.client_ca is not None:
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(cadata=self.client_ca.cert_pem)
        return context

    def start(self) -> Self:
        if self.tls:
            self.ssl_context = self._make_ssl_context()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._server = _Server(self, (self.host, 0), family)
        # A short poll interval: stop() waits for the next poll, and suites start and stop many fakes.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=f"{self.service}-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------------------------------


def _linux_addresses() -> Iterator[str]:
    """This host's own interface addresses, from procfs (no extra dependency, no subprocess)."""
    with contextlib.suppress(OSError):
        with open("/proc/net/if_inet6") as handle:
            for line in handle:
                raw = line.split()[0]
                yield str(ipaddress.IPv6Address(int(raw, 16)))
    with contextlib.suppress(OSError):
        with open("/proc/net/fib_trie") as handle:
            previous = ""
            for line in handle:
                if "/32 host LOCAL" in line and previous:
                    yield previous
                parts = line.split()
                previous = parts[1] if len(parts) == 2 and parts[0] in ("|--", "+--") else previous


def site_local_addresses() -> list[str]:
    """Addresses of this host in site networks (RFC 1918, CGNAT, ULA) a fake can listen on.

    On-prem checks rely on the SSRF guard opening a connection's own subnet, which it does for site
    networks only (never loopback), so proving that rule end to end needs a fake on such an address.
    """
    found: list[str] = []
    for text in _linux_addresses():
        address = ipaddress.ip_address(text)
        if any(address in network for network in _SITE_NETWORKS) and text not in found:
            found.append(text)
    return found
