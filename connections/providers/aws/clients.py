"""boto3 clients, reused per thread: a new boto3 Session loads botocore's service models (tens of ms)
and a new client costs milliseconds (TESTING.md), which dominates a health sweep over thousands of
connections. One Session per thread; clients kept in a small per-thread LRU keyed by credentials."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

import boto3
from botocore.config import Config

MAX_CLIENTS_PER_THREAD = 128
_local = threading.local()


def _session() -> Any:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = boto3.session.Session()
    return session


def client(service: str, *, region: str, credentials: dict[str, str] | None = None, timeout: float = 10.0) -> Any:
    """A cached boto3 client. `credentials` holds aws_access_key_id / aws_secret_access_key /
    aws_session_token; None means the platform's own identity (the default credential chain).
    boto3 honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) itself, so no test-only branch."""
    creds = credentials or {}
    # The endpoint is fixed when a client is built: include it so a changed AWS_ENDPOINT_URL gets a new one.
    key = (
        os.environ.get("AWS_ENDPOINT_URL"),
        service,
        region,
        creds.get("aws_access_key_id"),
        creds.get("aws_secret_access_key"),
        creds.get("aws_session_token"),
        timeout,
    )
    cache: OrderedDict[tuple, Any] | None = getattr(_local, "clients", None)
    if cache is None:
        cache = _local.clients = OrderedDict()
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    config = Config(connect_timeout=min(timeout, 5), read_timeout=timeout, retries={"max_attempts": 2})
    made = _session().client(service, region_name=region, config=config, **creds)
    cache[key] = made
    if len(cache) > MAX_CLIENTS_PER_THREAD:
        cache.popitem(last=False)
    return made


def session_client(service: str, *, region: str, credentials: dict[str, str], timeout: float = 10.0) -> Any:
    """A boto3 client for short-lived session credentials, not cached: every role validation or run has
    new ones, and caching them would grow the per-thread cache forever. Built from the thread's shared
    Session with the credentials passed to the client (a new Session per call reloaded botocore's
    service models: ~0.1 s of every pre-run role re-validation). Without credentials (the platform's
    own default chain) a fresh Session still resolves them anew, as before."""
    config = Config(connect_timeout=min(timeout, 5), read_timeout=timeout, retries={"max_attempts": 2})
    if credentials:
        return _session().client(service, region_name=region, config=config, **credentials)
    return boto3.session.Session().client(service, region_name=region, config=config)


def clear() -> None:
    """Forget this thread's clients (their endpoint is fixed when built: tests that move AWS_ENDPOINT_URL call it)."""
    _local.__dict__.pop("clients", None)
