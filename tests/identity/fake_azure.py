"""A small fake of Microsoft Entra ID (Azure AD) that azure-identity and MSAL talk to over real HTTPS.

Why a fake server rather than mocks: azure-identity and MSAL build the token request themselves (discovery,
form encoding, assertion callback, error mapping), and those are exactly the parts we need to prove work with
our OIDC issuer. They insist on https, so the fake serves TLS with a throw-away CA (see TESTING.md).

Served, per tenant:

* ``GET  /{tenant}/v2.0/.well-known/openid-configuration``: token/authorization endpoints and issuer.
* ``POST /{tenant}/oauth2/v2.0/token``: the client-credentials grant, authenticated either by
  ``client_assertion`` (jwt-bearer; checked against federated identity credentials and the issuer's JWKS, which
  the fake gets from ``jwks_provider``) or by ``client_secret``.

Audiences accepted for a client assertion: the federated credential's ``audiences`` (default
``api://AzureADTokenExchange``, what real Entra ID checks for federated credentials) and, unless
``accept_token_url_audience=False``, the token endpoint URL in either form
(``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`` or this fake's own ``token_url``), which is
the audience certificate-based client assertions use. Real Entra ID accepts ONLY the credential's audiences
for a federated assertion, so production code should sign for ``api://AzureADTokenExchange``; pass
``accept_token_url_audience=False`` to test that strictly.

Errors mimic AAD's JSON (``error``, ``error_description`` starting with ``AADSTS<code>:``, ``error_codes``...):
401 for ``invalid_client``, 400 for the rest. Every request is recorded (``requests``) and every token issued
too (``issued_tokens``), so tests can assert on what the client actually sent.

Usage::

    with FakeAzureAD(jwks_provider=lambda: {...}) as fake:
        fake.add_federated_credential(client_id=..., issuer=..., subject=...)
        fake.add_client_secret(client_id=..., secret=...)
        ClientAssertionCredential(fake.tenant_id, client_id, func, authority=fake.authority,
                                  disable_instance_discovery=True, connection_verify=fake.ca_file)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import ipaddress
import json
import secrets
import shutil
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "AAD_PUBLIC_AUTHORITY",
    "AZURE_AD_TOKEN_EXCHANGE",
    "DEFAULT_TENANT_ID",
    "JWT_BEARER",
    "FakeAzureAD",
    "FederatedCredential",
    "IssuedToken",
    "RecordedRequest",
    "make_tls_material",
]

AAD_PUBLIC_AUTHORITY = "https://login.microsoftonline.com"
AZURE_AD_TOKEN_EXCHANGE = "api://AzureADTokenExchange"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_TENANT_ID = "00000000-0000-4000-8000-00000000aaaa"
TOKEN_LIFETIME = 3600
_REQUIRED_ASSERTION_CLAIMS = ["iss", "sub", "aud", "exp", "nbf"]


# ---------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class FederatedCredential:
    """A federated identity credential on an app registration: trust tokens from ``issuer`` for ``subject``."""

    tenant_id: str
    client_id: str
    issuer: str
    subject: str
    audiences: tuple[str, ...] = (AZURE_AD_TOKEN_EXCHANGE,)


@dataclass
class RecordedRequest:
    """One request the fake received, with the response it gave (for assertions in tests)."""

    method: str
    path: str
    tenant_id: str | None
    headers: dict[str, str]
    form: dict[str, str]
    status: int = 0
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def is_token_request(self) -> bool:
        return self.method == "POST" and self.path.endswith("/oauth2/v2.0/token")


@dataclass(frozen=True)
class IssuedToken:
    """An access token the fake handed out and to whom (``subject`` is set for assertion grants)."""

    access_token: str
    tenant_id: str
    client_id: str
    scope: str
    method: str  # "client_assertion" or "client_secret"
    subject: str | None = None


class _AADError(Exception):
    """An AAD-style OAuth error response."""

    def __init__(self, error: str, code: int, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.code = code
        self.message = message
        self.status = status if status is not None else (401 if error == "invalid_client" else 400)

    def body(self, authority: str) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        timestamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.code}: {self.message} Trace ID: {trace_id} Correlation ID: {correlation_id} "
                f"Timestamp: {timestamp}"
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{authority}/error?code={self.code}",
        }


# -------------------------------------------------------------------------------------------------- TLS


def make_tls_material(directory: str | Path) -> tuple[Path, Path, Path]:
    """Write a throw-away CA and a server certificate for 127.0.0.1/localhost; return (ca, cert, key) paths.

    A separate CA (rather than one self-signed leaf) keeps strict X.509 verification happy: the trust anchor
    is a proper CA certificate and the leaf carries SAN, EKU and key identifiers.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake Azure AD test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file, cert_file, key_file


class _TLSServer(ThreadingHTTPServer):
    """Threaded HTTP server doing the TLS handshake in the per-connection thread (a stalled client only
    blocks itself, not the accept loop)."""

    daemon_threads = True
    fake: FakeAzureAD
    ssl_context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. a client that does not trust our CA: nothing to serve
        try:
            super().finish_request(tls, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls.close()


class _Handler(BaseHTTPRequestHandler):
    server: _TLSServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; everything is in FakeAzureAD.requests

    def do_GET(self) -> None:
        self.server.fake._dispatch(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._dispatch(self, "POST")


# ----------------------------------------------------------------------------------------------- server


class FakeAzureAD:
    """The fake identity provider; a context manager (``start``/``stop``) that is safe to reuse per test."""

    def __init__(
        self,
        *,
        tenant_id: str = DEFAULT_TENANT_ID,
        jwks_provider: Callable[[], dict[str, Any]] | None = None,
        accept_token_url_audience: bool = True,
        leeway: int = 30,
        tls_dir: str | Path | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.jwks_provider = jwks_provider
        self.accept_token_url_audience = accept_token_url_audience
        self.leeway = leeway
        self._tls_dir = Path(tls_dir) if tls_dir is not None else None
        self._own_tls_dir = False
        self._lock = threading.Lock()
        self._tenants: set[str] = {tenant_id}
        self._federated: list[FederatedCredential] = []
        self._secrets: dict[tuple[str, str], str] = {}
        self._requests: list[RecordedRequest] = []
        self._issued: list[IssuedToken] = []
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self.ca_file: Path | None = None

    # --- life cycle

    def start(self) -> FakeAzureAD:
        if self._server is not None:
            return self
        if self._tls_dir is None:
            self._tls_dir = Path(tempfile.mkdtemp(prefix="fake-azure-"))
            self._own_tls_dir = True
        self.ca_file, cert_file, key_file = make_tls_material(self._tls_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_file, key_file)
        server = _TLSServer(("127.0.0.1", 0), _Handler)
        server.fake = self
        server.ssl_context = context
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-azure-ad", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        if self._own_tls_dir and self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)

    def __enter__(self) -> FakeAzureAD:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- configuration

    def add_tenant(self, tenant_id: str) -> None:
        with self._lock:
            self._tenants.add(tenant_id)

    def add_federated_credential(
        self,
        *,
        client_id: str,
        issuer: str,
        subject: str,
        audiences: tuple[str, ...] | list[str] = (AZURE_AD_TOKEN_EXCHANGE,),
        tenant_id: str | None = None,
    ) -> FederatedCredential:
        """Trust assertions from ``issuer`` about ``subject`` for app ``client_id`` (exact, case-sensitive)."""
        credential = FederatedCredential(tenant_id or self.tenant_id, client_id, issuer, subject, tuple(audiences))
        with self._lock:
            self._tenants.add(credential.tenant_id)
            self._federated.append(credential)
        return credential

    def add_client_secret(self, *, client_id: str, secret: str, tenant_id: str | None = None) -> None:
        """Let app ``client_id`` authenticate with ``secret`` (client-secret connections)."""
        tenant = tenant_id or self.tenant_id
        with self._lock:
            self._tenants.add(tenant)
            self._secrets[(tenant, client_id)] = secret

    def reset(self) -> None:
        """Forget records and configuration (tenants back to the default one)."""
        with self._lock:
            self._tenants = {self.tenant_id}
            self._federated.clear()
            self._secrets.clear()
            self._requests.clear()
            self._issued.clear()

    # --- addresses

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeAzureAD is not running; use it as a context manager.")
        return self._server.server_address[1]

    @property
    def authority(self) -> str:
        """What to pass as ``authority=`` to azure-identity (scheme, host and port, no tenant)."""
        return f"https://127.0.0.1:{self.port}"

    def token_url(self, tenant_id: str | None = None) -> str:
        return f"{self.authority}/{tenant_id or self.tenant_id}/oauth2/v2.0/token"

    def public_token_url(self, tenant_id: str | None = None) -> str:
        """The token URL of the real public cloud, accepted as an audience like ``token_url``."""
        return f"{AAD_PUBLIC_AUTHORITY}/{tenant_id or self.tenant_id}/oauth2/v2.0/token"

    def issuer(self, tenant_id: str | None = None) -> str:
        return f"{self.authority}/{tenant_id or self.tenant_id}/v2.0"

    def accepted_audiences(self, credential: FederatedCredential) -> set[str]:
        audiences = set(credential.audiences)
        if self.accept_token_url_audience:
            audiences |= {self.token_url(credential.tenant_id), self.public_token_url(credential.tenant_id)}
        return audiences

    # --- records

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def token_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.is_token_request]

    @property
    def issued_tokens(self) -> list[IssuedToken]:
        with self._lock:
            return list(self._issued)

    # --- request handling (server threads)

    def _dispatch(self, handler: _Handler, method: str) -> None:
        path = urlsplit(handler.path).path
        parts = [part for part in path.split("/") if part]
        body = b""
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            body = handler.rfile.read(length) if length else b""
        form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace"), True).items()}
        record = RecordedRequest(
            method=method,
            path=path,
            tenant_id=parts[0] if parts else None,
            headers=dict(handler.headers.items()),
            form=form,
        )
        with self._lock:
            self._requests.append(record)
        try:
            status, payload = self._route(method, parts, form)
        except _AADError as exc:
            status, payload = exc.status, exc.body(self.authority)
        record.status, record.response = status, payload
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, parts: list[str], form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if method == "GET" and len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return 200, self._discovery(self._known_tenant(parts[0]))
        if method == "GET" and len(parts) == 4 and parts[1:] == ["discovery", "v2.0", "keys"]:
            return 200, {"keys": []}  # the fake never signs tokens, so it publishes no keys
        if method == "POST" and len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            return 200, self._token(self._known_tenant(parts[0]), form)
        raise _AADError("not_found", 90001, "The requested path is not served by the fake.", status=404)

    def _known_tenant(self, tenant_id: str) -> str:
        with self._lock:
            known = tenant_id in self._tenants
        if not known:
            raise _AADError(
                "invalid_tenant",
                90002,
                f"Tenant '{tenant_id}' not found. Check to make sure you have the correct tenant ID.",
            )
        return tenant_id

    def _discovery(self, tenant_id: str) -> dict[str, Any]:
        base = f"{self.authority}/{tenant_id}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "issuer": f"{base}/v2.0",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": None,
        }

    def _token(self, tenant_id: str, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != "client_credentials":
            raise _AADError(
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type (fake: client_credentials only).",
            )
        client_id = form.get("client_id", "")
        if not client_id:
            raise _AADError(
                "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."
            )
        scope = form.get("scope", "")
        if not any(item.endswith("/.default") for item in scope.split()):
            raise _AADError(
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
                "value with /.default suffixed to the resource identifier (application ID URI).",
            )
        if "client_assertion" in form:
            subject = self._check_assertion(tenant_id, client_id, form)
            method = "client_assertion"
        elif "client_secret" in form:
            self._check_secret(tenant_id, client_id, form["client_secret"])
            method, subject = "client_secret", None
        else:
            raise _AADError(
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        token = IssuedToken(f"fake-{secrets.token_urlsafe(24)}", tenant_id, client_id, scope, method, subject)
        with self._lock:
            self._issued.append(token)
        return {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": token.access_token,
        }

    def _unknown_app(self, tenant_id: str, client_id: str) -> _AADError:
        return _AADError(
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant_id}'.",
        )

    def _check_secret(self, tenant_id: str, client_id: str, secret: str) -> None:
        with self._lock:
            expected = self._secrets.get((tenant_id, client_id))
        if expected is None:
            raise self._unknown_app(tenant_id, client_id)
        if not hmac.compare_digest(expected.encode(), secret.encode()):
            raise _AADError(
                "invalid_client",
                7000215,
                f"Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{client_id}'.",
            )

    def _check_assertion(self, tenant_id: str, client_id: str, form: dict[str, str]) -> str:
        """Match a federated credential (issuer, subject, audience, as AAD reports them), then verify the JWT."""
        if form.get("client_assertion_type") != JWT_BEARER:
            raise _AADError("invalid_request", 7000219, f"'client_assertion_type' must be '{JWT_BEARER}'.")
        with self._lock:
            candidates = [c for c in self._federated if c.tenant_id == tenant_id and c.client_id == client_id]
        if not candidates:
            raise self._unknown_app(tenant_id, client_id)
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _AADError("invalid_client", 50027, "JWT token is invalid or malformed.") from None
        suffix = (
            "Please note that the matching is done using a case-sensitive comparison. Check your federated "
            "identity credential Subject, Audience and Issuer against the presented assertion."
        )
        issuer, subject = claims.get("iss"), claims.get("sub")
        candidates = [c for c in candidates if c.issuer == issuer]
        if not candidates:
            raise _AADError(
                "invalid_client",
                700211,
                f"No matching federated identity record found for presented assertion issuer '{issuer}'. {suffix}",
            )
        candidates = [c for c in candidates if c.subject == subject]
        if not candidates:
            raise _AADError(
                "invalid_client",
                700213,
                f"No matching federated identity record found for presented assertion subject '{subject}'. {suffix}",
            )
        audience = claims.get("aud")
        audiences = set(audience) if isinstance(audience, list) else {audience}
        candidates = [c for c in candidates if audiences & self.accepted_audiences(c)]
        if not candidates:
            raise _AADError(
                "invalid_client",
                700212,
                f"No matching federated identity record found for presented assertion audience '{audience}'. {suffix}",
            )
        self._verify_signature(assertion, header, candidates[0])
        return subject

    def _verify_signature(self, assertion: str, header: dict[str, Any], credential: FederatedCredential) -> None:
        if self.jwks_provider is None:
            raise _AADError("invalid_client", 50166, "Request to External OIDC endpoint failed (no jwks_provider).")
        try:
            keys = self.jwks_provider()["keys"]
        except Exception as exc:  # whatever the provider raises, AAD reports "could not fetch the keys"
            raise _AADError(
                "invalid_client", 50166, f"Request to External OIDC endpoint failed ({type(exc).__name__})."
            ) from None
        kid = header.get("kid")
        jwk = next((key for key in keys if key.get("kid") == kid), None)
        if jwk is None:
            raise _AADError(
                "invalid_client",
                700027,
                f"Client assertion failed signature validation: key '{kid}' is not in the issuer's JWKS.",
            )
        try:
            jwt.decode(
                assertion,
                key=jwt.PyJWK(jwk),
                algorithms=["RS256"],
                audience=sorted(self.accepted_audiences(credential)),
                issuer=credential.issuer,
                leeway=self.leeway,
                options={"require": _REQUIRED_ASSERTION_CLAIMS},
            )
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as exc:
            raise _AADError(
                "invalid_client", 700024, f"Client assertion is not within its valid time range ({exc})."
            ) from None
        except jwt.InvalidSignatureError:
            raise _AADError("invalid_client", 700027, "Client assertion failed signature validation.") from None
        except jwt.PyJWTError as exc:
            raise _AADError("invalid_client", 50027, f"JWT token is invalid or malformed ({exc}).") from None
