"""boto3 clients, reused per thread and credential set: creating one costs milliseconds (TESTING.md)."""

from __future__ import annotations

import os
import threading
from typing import Any

_local = threading.local()


def client(service: str, *, region: str, credentials: dict[str, str] | None = None, timeout: float = 10.0) -> Any:
    """A cached boto3 client. `credentials` holds aws_access_key_id / aws_secret_access_key /
    aws_session_token; None means the platform's own identity (the default credential chain).
    boto3 honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) itself, so no test-only branch."""
    import boto3
    from botocore.config import Config

    creds = credentials or {}
    # The endpoint is fixed when a client is built: include it so a changed AWS_ENDPOINT_URL gets a new one.
    key = (os.environ.get("AWS_ENDPOINT_URL"),
        service,
        region,
        creds.get("aws_access_key_id"),
        creds.get("aws_secret_access_key"),
        creds.get("aws_session_token"),
        timeout,
    )
    cache: dict[tuple, Any] = getattr(_local, "clients", None) or {}
    _local.clients = cache
    if key not in cache:
        session = boto3.session.Session(**creds) if creds else boto3.session.Session()
        config = Config(connect_timeout=min(timeout, 5), read_timeout=timeout, retries={"max_attempts": 2})
        cache[key] = session.client(service, region_name=region, config=config)
    return cache[key]
