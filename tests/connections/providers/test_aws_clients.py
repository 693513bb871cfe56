"""The per-process boto3 client cache (connections/providers/aws/clients.py), against moto in server mode.

What matters: every call is signed with the credentials its caller passed (a rotated key is used at
once, threads never see each other's), nothing falls back to the platform's identity when no
credentials are bound, an endpoint change gets a new client, and the cache stays bounded however
many connections pass through it.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import NoCredentialsError

from connections.providers.aws import clients
from tests.fakes.moto_server import moto, moto_server  # noqa: F401

_KEY_ID = re.compile(r"Credential=([A-Z0-9]+)/")


def _keys(access_key_id: str, secret: str = "s" * 40) -> dict[str, str]:
    return {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret}


@pytest.fixture
def signed_with(moto) -> list[tuple[str | None, str]]:
    """(thread name, access key id) of every request the shared STS client sends, as it leaves."""
    seen: list[tuple[str | None, str]] = []

    def record(request: Any, **_: Any) -> None:
        match = _KEY_ID.search(request.headers.get("Authorization", b"").decode())
        seen.append((threading.current_thread().name, match.group(1) if match else ""))

    shared = clients.client("sts", region="us-east-1", credentials=_keys("AKIAINIT0000000000000"))
    shared.meta.events.register("before-send.sts.*", record, unique_id="test-signed-with")
    return seen


def test_each_call_is_signed_with_the_callers_credentials_and_a_rotation_applies_at_once(signed_with):
    before = clients.client("sts", region="us-east-1", credentials=_keys("AKIAOLDKEY0000000000"))
    before.get_caller_identity()
    rotated = clients.client("sts", region="us-east-1", credentials=_keys("AKIANEWKEY0000000000", "n" * 40))
    rotated.get_caller_identity()
    before.get_caller_identity()  # a caller still holding the old key signs with the old key, nobody else
    assert [key for _, key in signed_with] == ["AKIAOLDKEY0000000000", "AKIANEWKEY0000000000", "AKIAOLDKEY0000000000"]


def test_threads_never_sign_with_each_others_credentials(signed_with):
    def check(i: int) -> str:
        threading.current_thread().name = f"checker-{i}"
        sts = clients.client("sts", region="us-east-1", credentials=_keys(f"AKIATHREAD{i:010d}"))
        for _ in range(3):
            sts.get_caller_identity()
        return threading.current_thread().name

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(check, range(16)))
    assert len(signed_with) == 48
    for thread_name, key in signed_with:
        assert thread_name is not None and key == f"AKIATHREAD{int(thread_name.split('-')[1]):010d}"


def test_no_bound_credentials_fails_instead_of_using_another_identity(moto):
    bound = clients.client("sts", region="us-east-1", credentials=_keys("AKIAANYKEY0000000000"))
    with pytest.raises(NoCredentialsError):  # a call around the binding (a paginator would be one) ...
        bound._client.get_caller_identity()  # ... carries no credentials, not the platform's (the env's)
    with pytest.raises(NoCredentialsError):
        clients.client("sts", region="us-east-1", credentials=_keys("", ""))


def test_connections_share_one_client_and_the_platform_identity_has_its_own(moto):
    first = clients.client("sts", region="us-east-1", credentials=_keys("AKIAFIRST00000000000"))
    second = clients.client("sts", region="us-east-1", credentials=_keys("AKIASECOND0000000000"))
    platform = clients.client("sts", region="us-east-1")
    assert first._client is second._client
    assert platform is not first._client
    assert platform.get_caller_identity()["Account"]  # the default chain (the fixture's keys)
    assert "AKIAFIRST" not in repr(first) and "s" * 40 not in repr(first)


def test_another_endpoint_or_region_gets_another_client(moto, monkeypatch):
    keys = _keys("AKIAENDPOINT00000000")
    here = clients.client("sts", region="us-east-1", credentials=keys)._client
    assert clients.client("sts", region="eu-west-1", credentials=keys)._client is not here
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    moved = clients.client("sts", region="us-east-1", credentials=keys)._client
    assert moved is not here and moved.meta.endpoint_url == "http://127.0.0.1:9"
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:10")
    assert clients.client("sts", region="us-east-1", credentials=keys)._client.meta.endpoint_url == (
        "http://127.0.0.1:10"
    )


def test_the_cache_is_bounded_and_holds_no_connection_credentials(moto, monkeypatch):
    monkeypatch.setattr(clients, "MAX_CLIENTS", 3)
    for i in range(200):  # 200 connections' keys: still one client
        clients.client("sts", region="us-east-1", credentials=_keys(f"AKIAMANY{i:012d}"))
    assert clients.cache_size() == 1
    for region in ("us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1"):
        clients.client("sts", region=region, credentials=_keys("AKIAREGION0000000000"))
    assert clients.cache_size() == 3  # least recently used dropped
    assert not any("AKIA" in repr(key) for key in clients._clients)
