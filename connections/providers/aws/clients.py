"""boto3 clients, reused by every thread of a worker process.

Why: building a boto3 client costs ~4 ms of CPU (event hooks copied, endpoint rules and config
resolved) and a fresh client also opens a new TCP/TLS connection; a health sweep checks thousands of
connections whose credentials are all different, so a cache keyed by credentials never hits there.

How: a client signs each request with the credentials its request signer holds, and botocore asks
that object for them (`get_frozen_credentials()`) at every signature. The clients built here for
connection credentials hold `_CallerCredentials`, which answers with the credentials bound to the
*current call* (a ContextVar set by `BoundClient` around each API call, so per thread and per
coroutine) and raises `NoCredentialsError` when none are bound. So one client per (service, region,
endpoint, timeout) serves every connection:

* a rotated credential can never be signed with a stale one: no client holds a connection's
  credentials, the caller passes the current ones with each call;
* nothing about a connection's credentials is kept in the cache (its keys hold no credential and no
  fingerprint; the values live in the caller's `BoundClient` only while it is used);
* a call that escapes the binding (a paginator or waiter built from the raw client) fails loudly
  instead of falling back to the platform's own identity.

The platform's own identity (`credentials=None`: the default chain, e.g. the instance role) gets a
normal client from a Session that resolves it. Sessions are not thread-safe, so they are only touched
under a lock (client creation); clients are thread-safe and shared. Both kinds share one botocore
loader, so service models are parsed once per process. The cache is an LRU bounded by `MAX_CLIENTS`,
and a forked child (Celery prefork) starts with an empty one: HTTP connection pools must not be
shared across processes.
"""

from __future__ import annotations

import contextvars
import functools
import os
import threading
from collections import OrderedDict
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, Credentials, ReadOnlyCredentials
from botocore.exceptions import NoCredentialsError

__all__ = ["MAX_CLIENTS", "BoundClient", "cache_size", "clear", "client", "session_client"]

#: (service, region, endpoint, timeout) combinations kept per process; least recently used go first.
MAX_CLIENTS = 64

_lock = threading.Lock()
_clients: OrderedDict[tuple, Any] = OrderedDict()
_state: dict[str, Any] = {}  # "loader", "platform" and "bound" Sessions, made on first use
_bound: contextvars.ContextVar[ReadOnlyCredentials | None] = contextvars.ContextVar(
    "aws_call_credentials", default=None
)


class _CallerCredentials(Credentials):
    """The credentials of the call being signed right now (see the module docstring), never a default."""

    def __init__(self) -> None:
        super().__init__(access_key="", secret_key="", method="platform-per-call")

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        bound = _bound.get()
        if bound is None:
            raise NoCredentialsError()
        return bound


class _CallerCredentialProvider(CredentialProvider):
    METHOD = CANONICAL_NAME = "platform-per-call"

    def load(self) -> Credentials:
        return _CallerCredentials()


class BoundClient:
    """A shared client whose API calls are signed with one connection's credentials.

    Only the client's operations (`meta.method_to_api_mapping`) are bound; everything else (`meta`,
    `exceptions`) is the shared client's own. `repr()` never shows a credential.
    """

    __slots__ = ("_client", "_credentials")

    def __init__(self, shared: Any, credentials: ReadOnlyCredentials) -> None:
        self._client = shared
        self._credentials = credentials

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in self._client.meta.method_to_api_mapping:
            return attr
        credentials = self._credentials

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            token = _bound.set(credentials)
            try:
                return attr(*args, **kwargs)
            finally:
                _bound.reset(token)

        return call

    def __repr__(self) -> str:
        return f"<BoundClient {self._client.meta.service_model.service_name} {self._client.meta.region_name}>"


def _loader() -> Any:
    if "loader" not in _state:
        _state["loader"] = botocore.session.Session().get_component("data_loader")
    return _state["loader"]


def _session(kind: str) -> boto3.session.Session:
    """The process' Session of `kind` ("platform": default chain; "bound": per-call credentials). Under `_lock`."""
    session = _state.get(kind)
    if session is None:
        core = botocore.session.Session()
        core.register_component("data_loader", _loader())
        if kind == "bound":
            core.register_component("credential_provider", CredentialResolver([_CallerCredentialProvider()]))
        session = _state[kind] = boto3.session.Session(botocore_session=core)
    return session


def _config(timeout: float) -> Config:
    return Config(connect_timeout=min(timeout, 5), read_timeout=timeout, retries={"max_attempts": 2})


def _endpoint_key(service: str) -> tuple[str | None, str | None]:
    """What boto3 reads the endpoint from (fixed when a client is built): a change gets a new client."""
    return os.environ.get("AWS_ENDPOINT_URL"), os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")


def _shared(kind: str, service: str, region: str, timeout: float) -> Any:
    key = (kind, service, region, timeout, *_endpoint_key(service))
    with _lock:
        made = _clients.get(key)
        if made is not None:
            _clients.move_to_end(key)
            return made
        made = _session(kind).client(service, region_name=region, config=_config(timeout))
        _clients[key] = made
        while len(_clients) > MAX_CLIENTS:
            _clients.popitem(last=False)
        return made


def _frozen(credentials: dict[str, str]) -> ReadOnlyCredentials:
    access_key, secret_key = credentials.get("aws_access_key_id"), credentials.get("aws_secret_access_key")
    if not access_key or not secret_key:
        raise NoCredentialsError()  # never fall back to another identity for a connection's call
    return ReadOnlyCredentials(access_key, secret_key, credentials.get("aws_session_token") or None, None)


def client(service: str, *, region: str, credentials: dict[str, str] | None = None, timeout: float = 10.0) -> Any:
    """A reused boto3 client. `credentials` holds aws_access_key_id / aws_secret_access_key /
    aws_session_token (a `BoundClient` is returned); None means the platform's own identity (the
    default credential chain; the shared client itself is returned).
    boto3 honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) itself, so no test-only branch."""
    if credentials is None:
        return _shared("platform", service, region, timeout)
    return BoundClient(_shared("bound", service, region, timeout), _frozen(credentials))


def session_client(service: str, *, region: str, credentials: dict[str, str], timeout: float = 10.0) -> Any:
    """A client for short-lived session credentials (role validations, runs). The same shared clients
    serve them (the credentials are bound per call, not cached). Without credentials (the platform's
    own default chain) a fresh Session resolves them anew, as before: a run's identity may have changed."""
    if credentials:
        return client(service, region=region, credentials=credentials, timeout=timeout)
    return boto3.session.Session().client(service, region_name=region, config=_config(timeout))


def cache_size() -> int:
    """How many shared clients this process holds (bounded by `MAX_CLIENTS`)."""
    return len(_clients)


def clear() -> None:
    """Forget this process' clients and Sessions (tests that move AWS_ENDPOINT_URL or the platform's
    credentials call it). The loader and its parsed service models are kept: they never change."""
    with _lock:
        _clients.clear()
        _state.pop("platform", None)
        _state.pop("bound", None)


def _after_fork() -> None:
    """A forked child (Celery prefork) must not share its parent's HTTP connection pools or lock."""
    global _lock
    _lock = threading.Lock()
    _clients.clear()
    _state.pop("platform", None)
    _state.pop("bound", None)


os.register_at_fork(after_in_child=_after_fork)
