"""Helpers of the SaaS providers' check tests (test_github, test_gitlab, test_dockerhub, test_digitalocean,
test_scaleway, test_civo, test_cloudflare, test_httpcheck): checks against local fakes of their APIs, over real
sockets.

Each provider gets a success (with what the check reports) and its typical failure (with the
provider's own reason); every test also checks that the fake received exactly the documented
authentication and that no secret leaks into a reason or a result. The fakes listen on loopback,
which the SSRF guard refuses unless the operator allows it: ``NETGUARD_ALLOWED_NETWORKS`` does
(``loopback_allowed``, autouse in every module that imports it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from connections.providers import get_provider
from connections.providers.contract import CheckContext, CheckFailed, CheckResult
from tests.connections.provider_examples import valid_examples
from tests.fakes.saas import GitHubFake


@pytest.fixture(autouse=True)
def loopback_allowed(settings, monkeypatch) -> None:
    """Fakes live on 127.0.0.1: the operator allow-list opens it; environment overrides must not interfere."""
    settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.PROVIDER_ENDPOINTS = {}
    for name in ("github", "gitlab", "dockerhub", "digitalocean", "scaleway", "civo", "cloudflare"):
        monkeypatch.delenv(f"PROVIDER_ENDPOINT_{name.upper()}", raising=False)


def example(provider: str, auth_method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return valid_examples()[provider][auth_method]


def context(name: str = "conn", timeout: float = 5, extra_ca_data: str = "") -> CheckContext:
    ctx = CheckContext(org_slug="acme", connection_name=name, timeout=timeout)
    if extra_ca_data:  # what the test service copies from settings.EXTRA_CA_DATA
        ctx.extra_ca_data = extra_ca_data
    return ctx


def run(provider: str, auth_method: str, config: dict[str, Any], secrets: dict[str, Any], **kw: Any) -> CheckResult:
    return get_provider(provider).check(auth_method, config, secrets, context(**kw))


def fail(provider: str, auth_method: str, config: dict[str, Any], secrets: dict[str, Any], **kw: Any) -> str:
    """Run a check that must fail; return its reason after checking it holds no secret."""
    with pytest.raises(CheckFailed) as caught:
        run(provider, auth_method, config, secrets, **kw)
    assert_no_secret(caught.value.reason + json.dumps(caught.value.details), secrets)
    return caught.value.reason


def assert_no_secret(text: str | CheckResult, *payloads: Any) -> None:
    if isinstance(text, CheckResult):
        text = text.message + json.dumps(text.details)
    for payload in payloads:
        values = payload.values() if isinstance(payload, dict) else [payload]
        for value in values:
            assert str(value) not in text


def only_auth_headers(request: Any, expected: dict[str, str], absent: tuple[str, ...] = ()) -> None:
    for name, value in expected.items():
        assert request.header(name) == value
    for name in absent:
        assert request.header(name) is None


@pytest.fixture
def github(settings) -> Iterator[GitHubFake]:
    _config, secrets = example("github", "oauth")
    with GitHubFake(secrets["token"], organizations=("acme-corp",)) as fake:
        settings.PROVIDER_ENDPOINTS = {"github": fake.url}
        yield fake
