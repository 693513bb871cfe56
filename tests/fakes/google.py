"""A small fake of the Google APIs a connection test talks to, served over plain HTTP on 127.0.0.1.

Why a fake server rather than mocks: google-auth builds and signs the JWT bearer grant itself, and our
code builds the STS exchange, IAM Credentials and JSON API calls; a real HTTP peer that verifies
signatures and answers in Google's error formats proves those requests are right, not just made.

Served (paths are relative to the server; `FakeGoogle.endpoints` maps them to PROVIDER_ENDPOINTS names):

* ``POST /token``: OAuth JWT bearer grant. The assertion's signature is checked with the public key of
  a service account key registered with `add_service_account_key`.
* ``POST /sts/v1/token``: STS token exchange (RFC 8693) of an OIDC token, verified against the JWKS of a
  workload identity provider registered with `add_workload_identity_provider`.
* ``POST /iamcredentials/v1/projects/-/serviceAccounts/{email}:generateAccessToken``: service account
  impersonation by a federated principal allowed with `allow_impersonation`.
* ``GET /crm/v1/projects/{id}``: Resource Manager; 200 for members of a project added with
  `add_project`, 403 otherwise (Google says 403 for unknown projects too).
* ``GET /storage/storage/v1/b/{bucket}``, ``POST /storage/upload/storage/v1/b/{bucket}/o?uploadType=media``,
  ``DELETE /storage/storage/v1/b/{bucket}/o/{object}``: Cloud Storage JSON API for buckets from `add_bucket`.
* ``GET /gcr/v2/token``: a Docker registry token service taking ``oauth2accesstoken:<access token>``.
* ``POST /bigquery/bigquery/v2/projects/{project}/queries`` and ``GET .../queries/{job}``: BigQuery's
  ``jobs.query`` / ``getQueryResults`` over a billing export table filled with `add_billing_rows`
  (rows already summed per day/service/label; the fake filters them by the query's named parameters
  `project`, `start`, `end` and pages them by `bigquery_page_size`). Queries are kept in `bigquery_queries`.

Every request is recorded in `requests` (method, path, query, headers, body). Fixtures: `fake_google_server`
(session) and `fake_google` (per test: emptied, PROVIDER_ENDPOINTS pointed here, loopback allowed through
NETGUARD_ALLOWED_NETWORKS). Register them in a test module with assignments::

    from tests.fakes import google as google_fakes

    fake_google_server = google_fakes.fake_google_server
    fake_google = google_fakes.fake_google
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

__all__ = [
    "GOOGLE_TOKEN_URL",
    "FakeGoogle",
    "GoogleError",
    "RecordedRequest",
    "fake_google",
    "fake_google_server",
]

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_LIFETIME = 3600


@dataclass
class RecordedRequest:
    """One request the fake received (tests assert on what our code actually sent)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0


class GoogleError(Exception):
    """An error response; `payload` is the JSON body in the format of the API that failed."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        super().__init__(json.dumps(payload))
        self.status = status
        self.payload = payload

    @classmethod
    def api(cls, status: int, message: str, reason: str = "") -> GoogleError:
        """The ``{"error": {"code", "message", "status"}}`` format of Google's JSON APIs."""
        statuses = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
        error: dict[str, Any] = {"code": status, "message": message, "status": statuses.get(status, "UNKNOWN")}
        if reason:
            error["errors"] = [{"message": message, "domain": "global", "reason": reason}]
        return cls(status, {"error": error})

    @classmethod
    def oauth(cls, error: str, description: str, status: int = 400) -> GoogleError:
        """OAuth 2.0's ``{"error", "error_description"}`` format (token endpoint and STS)."""
        return cls(status, {"error": error, "error_description": description})


@dataclass
class _Provider:
    name: str  # projects/N/locations/global/workloadIdentityPools/POOL/providers/ID
    issuer: str
    jwks_provider: Callable[[], dict[str, Any]]
    audiences: set[str]

    @property
    def pool(self) -> str:
        return self.name.rsplit("/providers/", 1)[0]


@dataclass
class _Bucket:
    readers: set[str]
    writers: set[str]
    objects: dict[str, bytes] = field(default_factory=dict)


class FakeGoogle:
    """The fake; a context manager (``start``/``stop``), `reset` between tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # --- life cycle

    def start(self) -> FakeGoogle:
        if self._server is None:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            server.daemon_threads = True
            server.fake = self  # type: ignore[attr-defined]
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, name="fake-google", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> FakeGoogle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every key, provider, project, bucket, token and record."""
        with self._lock:
            self._service_accounts: dict[str, Any] = {}
            self._providers: dict[str, _Provider] = {}
            self._impersonation: dict[str, set[str]] = {}
            self._projects: dict[str, tuple[str, set[str]]] = {}
            self._buckets: dict[str, _Bucket] = {}
            self._tokens: dict[str, str] = {}
            self._federated_tokens: dict[str, str] = {}
            self._requests: list[RecordedRequest] = []
            self._billing: dict[str, list[dict[str, Any]]] = {}
            self._bigquery_jobs: dict[str, list[list[dict[str, Any]]]] = {}
            self.bigquery_queries: list[dict[str, Any]] = []
            self.bigquery_page_size = 1000

    # --- addresses

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeGoogle is not running.")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def endpoints(self) -> dict[str, str]:
        """PROVIDER_ENDPOINTS entries that send every Google call of the platform here."""
        base = self.base_url
        return {
            "gcp_token": f"{base}/token",
            "gcp_resource_manager": f"{base}/crm",
            "gcp_sts": f"{base}/sts/v1/token",
            "gcp_iam_credentials": f"{base}/iamcredentials",
            "gcp_storage": f"{base}/storage",
            "gcr_token": f"{base}/gcr/v2/token",
            "gcp_bigquery": f"{base}/bigquery",
        }

    # --- configuration

    def add_service_account_key(self, key_json: str | dict[str, Any]) -> str:
        """Trust this key file's private key for its ``client_email`` (as if created in IAM); returns the email."""
        info = json.loads(key_json) if isinstance(key_json, str) else key_json
        private_key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        with self._lock:
            self._service_accounts[info["client_email"]] = private_key.public_key()
        return info["client_email"]

    def add_workload_identity_provider(
        self,
        name: str,
        *,
        issuer: str,
        jwks_provider: Callable[[], dict[str, Any]],
        allowed_audiences: Iterable[str] = (),
    ) -> None:
        """An OIDC provider in a pool; without `allowed_audiences` Google's default (its own name) applies."""
        audiences = set(allowed_audiences) or {f"//iam.googleapis.com/{name}", f"https://iam.googleapis.com/{name}"}
        with self._lock:
            self._providers[name] = _Provider(name, issuer, jwks_provider, audiences)

    def allow_impersonation(self, service_account: str, *, provider: str, subject: str) -> str:
        """Grant roles/iam.workloadIdentityUser on `service_account` to one federated subject; returns the principal."""
        principal = f"principal://iam.googleapis.com/{provider.rsplit('/providers/', 1)[0]}/subject/{subject}"
        with self._lock:
            self._impersonation.setdefault(service_account, set()).add(principal)
        return principal

    def add_project(self, project_id: str, *, members: Iterable[str], number: str = "123456789012") -> None:
        """A project that `members` (service account emails) may get."""
        with self._lock:
            self._projects[project_id] = (number, set(members))

    def add_bucket(self, name: str, *, readers: Iterable[str] = (), writers: Iterable[str] = ()) -> None:
        """A bucket; writers may also read."""
        writers = set(writers)
        with self._lock:
            self._buckets[name] = _Bucket(readers=set(readers) | writers, writers=writers)

    def add_billing_rows(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Rows of a billing export table: {day, service, environment, currency, billed, effective, project}."""
        with self._lock:
            self._billing.setdefault(table, []).extend(rows)

    # --- records and state

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def objects(self, bucket: str) -> dict[str, bytes]:
        with self._lock:
            return dict(self._buckets[bucket].objects)

    # --- request handling (server threads)

    def _dispatch(self, handler: _Handler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        query = {key: values[0] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        record = RecordedRequest(method, unquote(parts.path), query, dict(handler.headers.items()), body)
        with self._lock:
            self._requests.append(record)
        try:
            status, payload = self._route(method, parts.path, query, record.headers, body)
        except GoogleError as exc:
            status, payload = exc.status, exc.payload
        record.status = status
        data = json.dumps(payload).encode() if payload is not None else b""
        handler.send_response(status)
        if payload is not None:
            handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        raw = path
        path = unquote(path)
        if method == "POST" and path == "/token":
            return 200, self._jwt_bearer(_form(body))
        if method == "POST" and path == "/sts/v1/token":
            return 200, self._token_exchange(_form(body))
        prefix, suffix = "/iamcredentials/v1/projects/-/serviceAccounts/", ":generateAccessToken"
        if method == "POST" and path.startswith(prefix) and path.endswith(suffix):
            return 200, self._generate_access_token(path[len(prefix) : -len(suffix)], headers, body)
        if method == "GET" and path.startswith("/crm/v1/projects/"):
            return 200, self._get_project(path.removeprefix("/crm/v1/projects/"), headers)
        if path.startswith("/storage/"):
            return self._storage(method, raw, query, headers)
        if method == "GET" and path == "/gcr/v2/token":
            return 200, self._registry_token(query, headers)
        if path.startswith("/bigquery/bigquery/v2/projects/"):
            return 200, self._bigquery(method, path, query, headers, body)
        raise GoogleError.api(404, f"The fake does not serve {method} {path}.")

    # token endpoint

    def _jwt_bearer(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != JWT_BEARER_GRANT:
            raise GoogleError.oauth("unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise GoogleError.oauth("invalid_grant", "Invalid JWT: malformed.") from None
        with self._lock:
            public_key = self._service_accounts.get(claims.get("iss", ""))
        if public_key is None:
            raise GoogleError.oauth("invalid_grant", "Invalid grant: account not found")
        try:
            jwt.decode(
                assertion,
                public_key,
                algorithms=["RS256"],
                audience=[GOOGLE_TOKEN_URL, self.endpoints["gcp_token"]],
                options={"require": ["iss", "aud", "exp", "iat"]},
            )
        except jwt.InvalidSignatureError:
            raise GoogleError.oauth("invalid_grant", "Invalid JWT Signature.") from None
        except jwt.PyJWTError as exc:
            raise GoogleError.oauth("invalid_grant", f"Invalid JWT: {exc}") from None
        return self._issue(claims["iss"])

    def _issue(self, principal: str) -> dict[str, Any]:
        token = f"ya29.fake-{secrets.token_urlsafe(24)}"
        with self._lock:
            self._tokens[token] = principal
        return {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}

    # STS and IAM Credentials

    def _token_exchange(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != TOKEN_EXCHANGE_GRANT:
            raise GoogleError.oauth("invalid_request", 'Invalid value for "grant_type".')
        audience = form.get("audience", "")
        with self._lock:
            provider = self._providers.get(audience.removeprefix("//iam.googleapis.com/"))
        if provider is None:
            raise GoogleError.oauth(
                "invalid_target",
                'The target service indicated by the "audience" parameters is invalid. This might either be '
                "because the pool or provider is disabled or deleted or because it doesn't exist.",
            )
        token = form.get("subject_token", "")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise GoogleError.oauth("invalid_grant", "Unable to parse the ID Token.") from None
        if claims.get("iss") != provider.issuer:
            message = f"The issuer in ID Token {claims.get('iss')} does not match the expected ones: {provider.issuer}."
            raise GoogleError.oauth("invalid_grant", message)
        jwk = next((k for k in provider.jwks_provider()["keys"] if k.get("kid") == header.get("kid")), None)
        if jwk is None:
            raise GoogleError.oauth("invalid_grant", "The ID Token's kid is not in the provider's JWKS.")
        try:
            jwt.decode(
                token,
                jwt.PyJWK(jwk),
                algorithms=["RS256"],
                audience=sorted(provider.audiences),
                issuer=provider.issuer,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.InvalidAudienceError:
            raise GoogleError.oauth(
                "invalid_grant", f"The audience in ID Token [{claims.get('aud')}] does not match the expected audience."
            ) from None
        except jwt.InvalidSignatureError:
            raise GoogleError.oauth("invalid_grant", "Invalid ID Token signature.") from None
        except jwt.PyJWTError as exc:
            raise GoogleError.oauth("invalid_grant", f"Invalid ID Token: {exc}") from None
        federated = f"fed-{secrets.token_urlsafe(24)}"
        principal = f"principal://iam.googleapis.com/{provider.pool}/subject/{claims['sub']}"
        with self._lock:
            self._federated_tokens[federated] = principal
        return {
            "access_token": federated,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
        }

    def _generate_access_token(self, email: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        with self._lock:
            principal = self._federated_tokens.get(_bearer(headers)) or self._tokens.get(_bearer(headers))
            allowed = self._impersonation.get(email, set())
        if principal is None:
            raise _unauthenticated()
        if principal not in allowed:
            raise GoogleError.api(
                403, "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
            )
        if "scope" not in json.loads(body or b"{}"):
            raise GoogleError.api(400, "Request contains an invalid argument.")
        issued = self._issue(email)
        return {"accessToken": issued["access_token"], "expireTime": "2099-01-01T00:00:00Z"}

    # Resource Manager

    def _get_project(self, project_id: str, headers: dict[str, str]) -> dict[str, Any]:
        principal = self._principal(headers)
        with self._lock:
            project = self._projects.get(project_id)
        if project is None or principal not in project[1]:
            raise GoogleError.api(403, "The caller does not have permission")
        return {
            "projectNumber": project[0],
            "projectId": project_id,
            "lifecycleState": "ACTIVE",
            "name": project_id,
        }

    # Cloud Storage

    def _storage(self, method: str, raw_path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        segments = raw_path.split("/")  # still percent-encoded: object names may contain "/"
        if method == "GET" and segments[1:5] == ["storage", "storage", "v1", "b"] and len(segments) == 6:
            name = unquote(segments[5])
            self._bucket(name, headers, "storage.buckets.get")
            return 200, {"kind": "storage#bucket", "id": name, "name": name, "location": "EU"}
        if method == "POST" and segments[1:6] == ["storage", "upload", "storage", "v1", "b"] and segments[7:] == ["o"]:
            bucket_name = unquote(segments[6])
            bucket = self._bucket(bucket_name, headers, "storage.objects.create", write=True)
            if query.get("uploadType") != "media" or not query.get("name"):
                raise GoogleError.api(400, "Upload requests must include an uploadType and a name.")
            with self._lock:
                bucket.objects[query["name"]] = b""
            return 200, {"kind": "storage#object", "bucket": bucket_name, "name": query["name"], "size": "0"}
        if method == "DELETE" and segments[1:5] == ["storage", "storage", "v1", "b"] and segments[6:7] == ["o"]:
            bucket_name, name = unquote(segments[5]), unquote("/".join(segments[7:]))
            bucket = self._bucket(bucket_name, headers, "storage.objects.delete", write=True)
            with self._lock:
                if bucket.objects.pop(name, None) is None:
                    raise GoogleError.api(404, f"No such object: {bucket_name}/{name}", "notFound")
            return 204, None
        raise GoogleError.api(404, "Not Found")

    def _bucket(self, name: str, headers: dict[str, str], permission: str, *, write: bool = False) -> _Bucket:
        principal = self._principal(headers)
        with self._lock:
            bucket = self._buckets.get(name)
        if bucket is None:
            raise GoogleError.api(404, "The specified bucket does not exist.", "notFound")
        if principal not in (bucket.writers if write else bucket.readers):
            raise GoogleError.api(
                403,
                f"{principal} does not have {permission} access to the Google Cloud Storage bucket. "
                f"Permission '{permission}' denied on resource (or it may not exist).",
                "forbidden",
            )
        return bucket

    # BigQuery (jobs.query + getQueryResults over a billing export)

    _BILLING_FIELDS = ("day", "service", "environment", "currency", "billed", "effective")

    def _bigquery(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Any:
        self._principal(headers)
        rest = path.removeprefix("/bigquery/bigquery/v2/projects/")
        if method == "POST" and rest.endswith("/queries"):
            request = json.loads(body or b"{}")
            with self._lock:
                self.bigquery_queries.append(request)
            sql = request.get("query", "")
            table = sql.split("`")[1] if sql.count("`") >= 2 else ""
            params = {p["name"]: p["parameterValue"]["value"] for p in request.get("queryParameters", [])}
            with self._lock:
                if table not in self._billing:
                    raise GoogleError.api(404, f"Not found: Table {table} was not found in location US", "notFound")
                rows = [r for r in self._billing[table] if r.get("project") == params.get("project")
                        and params.get("start", "") <= r["day"] < params.get("end", "9999")]  # fmt: skip
                size = self.bigquery_page_size
                pages = [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]
                job_id = f"job_{secrets.token_hex(6)}"
                self._bigquery_jobs[job_id] = pages
            return self._bigquery_page(job_id, 0)
        if method == "GET" and "/queries/" in rest:
            job_id = rest.split("/queries/", 1)[1]
            index = int(query.get("pageToken") or 0)
            return self._bigquery_page(job_id, index)
        raise GoogleError.api(404, "Not Found")

    def _bigquery_page(self, job_id: str, index: int) -> dict[str, Any]:
        with self._lock:
            pages = self._bigquery_jobs.get(job_id)
        if pages is None or index >= len(pages):
            raise GoogleError.api(404, f"Not found: Job {job_id}", "notFound")
        page: dict[str, Any] = {
            "kind": "bigquery#queryResponse",
            "jobReference": {"projectId": "billing", "jobId": job_id, "location": "US"},
            "jobComplete": True,
            "schema": {"fields": [{"name": n, "type": "STRING"} for n in self._BILLING_FIELDS]},
            "rows": [{"f": [{"v": None if r.get(n) is None else str(r.get(n))} for n in self._BILLING_FIELDS]}
                     for r in pages[index]],
            "totalRows": str(sum(len(p) for p in pages)),
        }  # fmt: skip
        if index + 1 < len(pages):
            page["pageToken"] = str(index + 1)
        return page

    # Container Registry token service

    def _registry_token(self, query: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        authorization = headers.get("Authorization", "")
        try:
            user, _, password = base64.b64decode(authorization.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            user, password = "", ""
        with self._lock:
            principal = self._tokens.get(password) if user == "oauth2accesstoken" else None
        if principal is None:
            raise GoogleError(401, {"errors": [{"code": "UNAUTHORIZED", "message": "Not Authorized."}]})
        project = query.get("scope", "").removeprefix("repository:").split("/", 1)[0]
        with self._lock:
            members = self._projects.get(project, ("", set()))[1]
        if principal not in members:
            message = f'Permission "artifactregistry.repositories.downloadArtifacts" denied on project {project}.'
            raise GoogleError(403, {"errors": [{"code": "DENIED", "message": message}]})
        return {"token": f"registry-{secrets.token_urlsafe(16)}", "expires_in": 3600}

    def _principal(self, headers: dict[str, str]) -> str:
        with self._lock:
            principal = self._tokens.get(_bearer(headers))
        if principal is None:
            raise _unauthenticated()
        return principal


def _unauthenticated() -> GoogleError:
    return GoogleError.api(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential.",
    )


def _bearer(headers: dict[str, str]) -> str:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    return value.removeprefix("Bearer ").strip()


def _form(body: bytes) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # the base class's signature
        pass  # everything is in FakeGoogle.requests

    def do_GET(self) -> None:
        self.server.fake._dispatch(self, "GET")  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        self.server.fake._dispatch(self, "POST")  # type: ignore[attr-defined]

    def do_DELETE(self) -> None:
        self.server.fake._dispatch(self, "DELETE")  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def fake_google_server() -> Iterator[FakeGoogle]:
    """One fake for the session (starting a server per test would only cost time)."""
    with FakeGoogle() as fake:
        yield fake


@pytest.fixture
def fake_google(fake_google_server: FakeGoogle, settings) -> Iterator[FakeGoogle]:
    """The fake, emptied, with every Google endpoint of the platform pointing at it and loopback allowed."""
    fake_google_server.reset()
    settings.PROVIDER_ENDPOINTS = {
        **(getattr(settings, "PROVIDER_ENDPOINTS", None) or {}),
        **fake_google_server.endpoints,
    }
    allowed = list(getattr(settings, "NETGUARD_ALLOWED_NETWORKS", None) or [])
    settings.NETGUARD_ALLOWED_NETWORKS = [*allowed, "127.0.0.1/32"]
    yield fake_google_server
    fake_google_server.reset()
