"""moto in server mode for the whole test session, and a per-test fixture that points boto3 at it.

Server mode (rather than ``mock_aws``) exercises the same code path production uses: real HTTP to an
endpoint taken from ``AWS_ENDPOINT_URL``, so no test-only branch exists in our AWS code (TESTING.md).

Use in a test module (assignments register the fixtures there without ruff's F811 on parameters)::

    from tests.fakes import moto_server as moto_fakes

    moto_server = moto_fakes.moto_server
    moto = moto_fakes.moto

moto accepts any access key and answers as account ``MOTO_ACCOUNT_ID``; declare another account to
see an account-mismatch failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from connections.providers.aws import clients as aws_clients

__all__ = ["MOTO_ACCOUNT_ID", "moto", "moto_server"]

MOTO_ACCOUNT_ID = "123456789012"

# Host configuration that would make boto3 ignore the fake's endpoint or credentials.
_HOST_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_ECR",
    "AWS_ENDPOINT_URL_IAM",
)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A ThreadedMotoServer on a free loopback port for the session; yields its base URL."""
    # late import: moto.server loads Flask and moto's backends (~1 s); only sessions that start it pay
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _forget_cached_clients() -> None:
    """boto3 clients are cached per thread (connections.aws_clients) with the endpoint fixed at creation:
    drop them so none built before this test's environment (another endpoint) is reused."""
    aws_clients.clear()


@pytest.fixture
def moto(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[str]:
    """boto3 (through AWS_ENDPOINT_URL) talks to moto with dummy keys; moto's state is reset afterwards."""
    for name in _HOST_AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    _forget_cached_clients()
    try:
        yield moto_server
    finally:
        _forget_cached_clients()
        requests.post(f"{moto_server}/moto-api/reset", timeout=10)
