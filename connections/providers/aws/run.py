"""AWS credentials for a run: an assumed role served by a loopback credentials endpoint, or a web identity
token file the SDK exchanges itself, refreshed for as long as the run lasts.

**assume_role.** The platform (its own identity: the default credential chain of the worker) calls STS
AssumeRole with the connection's External ID, the role the run works as, the session duration, and a
RoleSessionName naming the run (`run-<label>`, so the customer's CloudTrail shows which run did what).
The temporary credentials are *not* put in the run's environment: they would expire under a run longer
than the session. Instead a small HTTP server on 127.0.0.1 serves them in the container-credentials
format (`AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN`), which botocore, the
AWS CLI and the Terraform AWS provider all read, and re-read before the `Expiration` it announces; the
server assumes the role again when less than the refresh margin remains. Only a request carrying the
random authorization token gets an answer, and the path is random too.

**web_identity.** A platform OIDC token (audience `sts.amazonaws.com`) in a 0600 file with
`AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_SESSION_NAME`: the SDK does
AssumeRoleWithWebIdentity itself, and the file is rewritten before the token expires.

Every AWS run also points the shared config and credentials files at empty files of its own and turns
off the instance metadata service, so a run on an EC2 worker can never fall back to the platform's own
credentials (its home directory's profiles or its instance role).
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..base import Materialized, MaterializeError
from ..run import RefreshingFile, RunContext, RunService, RunSetup, session_label
from . import clients

WEB_IDENTITY_AUDIENCE = "sts.amazonaws.com"
WEB_IDENTITY_TOKEN_FILE = "aws-web-identity-token"
MIN_SESSION_SECONDS, MAX_SESSION_SECONDS = 900, 43200
NO_ROLE = "This AWS connection has no role to assume: name the project's role or add a connection role."


def run_session_name(ctx: RunContext) -> str:
    """`run-<label>` in STS's RoleSessionName alphabet, at most 64 characters: what CloudTrail shows.

    A label that already says `run-` (projects label their runs `run-<id>@<project>`) is not prefixed
    again: CloudTrail should read `run-7@network`, not `run-run-7@network`."""
    prefix = "" if ctx.run_label.startswith("run-") else "run-"
    return session_label(prefix, ctx.run_label)


def _isolated(out: Materialized, region: str) -> None:
    """Region, and no fallback to anything of the worker's own (profiles, instance role)."""
    out.set_env("AWS_REGION", region)
    out.set_env("AWS_DEFAULT_REGION", region)
    # Empty files of our own (not missing ones: some SDKs insist that a file they are pointed at exists).
    out.set_env("AWS_SHARED_CREDENTIALS_FILE", out.add_file("aws/credentials", b""))
    out.set_env("AWS_CONFIG_FILE", out.add_file("aws/config", b""))
    out.set_env("AWS_EC2_METADATA_DISABLED", "true")


def _as_session(credentials: Mapping[str, Any]) -> dict[str, str]:
    return {
        "aws_access_key_id": str(credentials["AccessKeyId"]),
        "aws_secret_access_key": str(credentials["SecretAccessKey"]),
        "aws_session_token": str(credentials["SessionToken"]),
    }


class AssumedRole:
    """One role's STS session for one run, assumed again when it nears its end (thread-safe)."""

    def __init__(self, ctx: RunContext, *, region: str, role_arn: str, duration: int) -> None:
        if not ctx.external_id:
            raise MaterializeError("This connection has no External ID; recreate it so the platform generates one.")
        self.ctx = ctx
        self.role_arn = role_arn
        self.duration = duration
        self.session_name = run_session_name(ctx)
        # The platform's own identity (default chain); built once, boto3 clients are thread-safe.
        self._sts = clients.session_client("sts", region=region, credentials={}, timeout=ctx.timeout)
        self._lock = threading.Lock()
        self._current: dict[str, Any] | None = None
        self.assumed = 0

    def _assume(self) -> dict[str, Any]:
        response = self._sts.assume_role(
            RoleArn=self.role_arn,
            RoleSessionName=self.session_name,
            ExternalId=self.ctx.external_id,
            DurationSeconds=self.duration,
        )
        credentials = response["Credentials"]
        for key in ("SecretAccessKey", "SessionToken"):
            self.ctx.on_secret(str(credentials[key]))
        self.assumed += 1
        return credentials

    def current(self) -> dict[str, Any]:
        """The STS `Credentials`, renewed when less than the refresh margin remains."""
        with self._lock:
            if self._current is None or self._remaining(self._current) < self.ctx.refresh_margin:
                self._current = self._assume()
            return self._current

    @staticmethod
    def _remaining(credentials: Mapping[str, Any]) -> float:
        expiration = credentials["Expiration"]
        if isinstance(expiration, str):
            expiration = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
        return expiration.timestamp() - time.time()

    def container_document(self) -> dict[str, str]:
        credentials = self.current()
        expiration = credentials["Expiration"]
        if isinstance(expiration, datetime):
            expiration = expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "AccessKeyId": str(credentials["AccessKeyId"]),
            "SecretAccessKey": str(credentials["SecretAccessKey"]),
            "Token": str(credentials["SessionToken"]),
            "Expiration": str(expiration),
        }

    def session(self) -> dict[str, str]:
        return _as_session(self.current())


class _Handler(BaseHTTPRequestHandler):
    server: _CredentialsServer

    def log_message(self, format: str, *args: Any) -> None:  # the base class's signature; nothing is logged
        return

    def do_GET(self) -> None:
        server = self.server
        given = self.headers.get("Authorization") or ""
        if self.path != server.path or not hmac.compare_digest(given.encode(), server.token.encode()):
            self._reply(403, {"message": "Forbidden"})
            return
        try:
            document = server.role.container_document()
        except Exception as exc:  # the SDK shows this to the run: the class only, never a value
            self._reply(502, {"message": f"The platform could not renew the role session ({exc.__class__.__name__})."})
            return
        self._reply(200, document)

    def _reply(self, status: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


class _CredentialsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, role: AssumedRole) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.role = role
        self.path = f"/credentials/{secrets.token_urlsafe(16)}"
        self.token = secrets.token_urlsafe(32)


class ContainerCredentialsEndpoint(RunService):
    """The loopback endpoint of one run (see the module docstring)."""

    def __init__(self, role: AssumedRole) -> None:
        self.role = role
        self._server: _CredentialsServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{self._server.path}"

    def start(self, root: str) -> dict[str, str]:
        self._server = _CredentialsServer(self.role)
        self.role.ctx.on_secret(self._server.token)
        self._thread = threading.Thread(target=self._server.serve_forever, name="run-credentials", daemon=True)
        self._thread.start()
        return {"AWS_CONTAINER_CREDENTIALS_FULL_URI": self.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN": self._server.token}

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _web_identity_session(ctx: RunContext, region: str, role_arn: str) -> Callable[[], dict[str, str]]:
    """For a borrowing connection (ECR): the platform exchanges a fresh token itself (an unsigned STS call)."""

    def session() -> dict[str, str]:
        sts = clients.session_client("sts", region=region, credentials={}, timeout=ctx.timeout)
        response = sts.assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName=run_session_name(ctx),
            WebIdentityToken=ctx.sign(WEB_IDENTITY_AUDIENCE),
            DurationSeconds=MIN_SESSION_SECONDS,
        )
        credentials = response["Credentials"]
        for key in ("SecretAccessKey", "SessionToken"):
            ctx.on_secret(str(credentials[key]))
        return _as_session(credentials)

    return session


def run_setup(auth_method: str, config: Mapping[str, Any], secrets_: Mapping[str, Any], ctx: RunContext) -> RunSetup:
    """The run's AWS credentials for any auth method (see the module docstring)."""
    region = str(config.get("region") or "us-east-1")
    out = Materialized()
    _isolated(out, region)
    if auth_method == "access_key":
        key_id = str(config.get("access_key_id") or "")
        secret = str(secrets_.get("secret_access_key") or "")
        out.set_env("AWS_ACCESS_KEY_ID", key_id)
        out.set_secret_env("AWS_SECRET_ACCESS_KEY", secret)
        session = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
        if secrets_.get("session_token"):
            out.set_secret_env("AWS_SESSION_TOKEN", str(secrets_["session_token"]))
            session["aws_session_token"] = str(secrets_["session_token"])
        return RunSetup(out, [], lambda: dict(session))
    if auth_method == "assume_role":
        role_arn = ctx.role_arn or config.get("role_arn") or ctx.fallback_role_arn
        if not role_arn:
            raise MaterializeError(NO_ROLE)
        duration = min(max(int(ctx.session_duration), MIN_SESSION_SECONDS), MAX_SESSION_SECONDS)
        role = AssumedRole(ctx, region=region, role_arn=str(role_arn), duration=duration)
        role.current()  # fail before the run starts when the role cannot be assumed
        return RunSetup(out, [ContainerCredentialsEndpoint(role)], role.session)
    if auth_method == "web_identity":
        role_arn = str(ctx.role_arn or config["role_arn"])
        out.set_env("AWS_ROLE_ARN", role_arn)
        out.set_env("AWS_ROLE_SESSION_NAME", run_session_name(ctx))
        token = ctx.sign(WEB_IDENTITY_AUDIENCE)
        out.sensitive.add(token)
        out.set_env("AWS_WEB_IDENTITY_TOKEN_FILE", out.add_file(WEB_IDENTITY_TOKEN_FILE, token))
        refresher = RefreshingFile(
            WEB_IDENTITY_TOKEN_FILE, lambda: ctx.sign(WEB_IDENTITY_AUDIENCE), ctx.refresh_interval
        )
        return RunSetup(out, [refresher], _web_identity_session(ctx, region, role_arn))
    raise MaterializeError(f"Unknown AWS auth method {auth_method!r}.")
