"""Helpers of the on-premises providers' check tests (test_kubernetes, test_proxmox, test_vcenter, test_onprem):
contexts as the test service builds them, checks that must pass or fail without leaking a secret, and the
Proxmox VE / vCenter fakes aimed at by a connection's own host fields.

Importing `_no_operator_allow_list` makes it autouse in that module: each test opts in to loopback through
the operator list (`loopback`); nothing else opens it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from connections.providers import get_provider
from connections.providers.contract import CheckContext, CheckFailed, CheckResult
from tests.connections.provider_examples import valid_examples
from tests.fakes.http import FakeServer
from tests.fakes.onprem import ProxmoxFake, VCenterFake


@pytest.fixture(autouse=True)
def _no_operator_allow_list(settings) -> None:
    """Each test opts in to loopback through the operator list; nothing else opens it."""
    settings.NETGUARD_ALLOWED_NETWORKS = []


@pytest.fixture
def loopback(settings) -> None:
    settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]


def example(provider: str, auth_method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return valid_examples()[provider][auth_method]


class RecordingContext(CheckContext):
    """A real CheckContext that also remembers what each call asked the guard for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.calls.append({"method": method, "url": url, **kwargs})
        return super().request(method, url, **kwargs)


def context(provider: str, trust: str = "", cls: type[CheckContext] = CheckContext) -> CheckContext:
    """A context as the test service builds it; `trust` is what it copies from settings.EXTRA_CA_DATA."""
    ctx = cls(org_slug="acme", connection_name=f"{provider}-test", timeout=5)
    if trust:
        ctx.extra_ca_data = trust
    return ctx


def check(
    provider: str, auth_method: str, config: dict[str, Any], secrets: dict[str, Any], trust: str = ""
) -> CheckResult:
    result = get_provider(provider).check(auth_method, config, secrets, context(provider, trust))
    assert_no_secret(result.message + json.dumps(result.details), secrets)
    return result


def fail(provider: str, auth_method: str, config: dict[str, Any], secrets: dict[str, Any], trust: str = "") -> str:
    with pytest.raises(CheckFailed) as caught:
        get_provider(provider).check(auth_method, config, secrets, context(provider, trust))
    assert_no_secret(caught.value.reason + json.dumps(caught.value.details), secrets)
    return caught.value.reason


def assert_no_secret(text: str, secrets: dict[str, Any]) -> None:
    for value in secrets.values():
        assert str(value) not in text
        for line in str(value).splitlines():  # PEM keys and kubeconfigs: no line of them either
            if len(line.strip()) >= 16:
                assert line.strip() not in text


def proxmox_setup(host: str = "127.0.0.1") -> tuple[ProxmoxFake, dict[str, Any], dict[str, Any]]:
    config, secrets = example("proxmox", "api_token")
    return ProxmoxFake(token_id=config["token_id"], token=secrets["token"], host=host), config, secrets


def vcenter_setup(host: str = "127.0.0.1") -> tuple[VCenterFake, dict[str, Any], dict[str, Any]]:
    config, secrets = example("vcenter", "password")
    return VCenterFake(username=config["username"], password=secrets["password"], host=host), config, secrets


def point_at(provider: str, config: dict[str, Any], fake: FakeServer) -> dict[str, Any]:
    """The connection's own host fields, aimed at the (started) fake."""
    config = copy.deepcopy(config)
    if provider == "proxmox":
        config["api_endpoint"] = fake.url
    else:
        config["host"], config["port"] = fake.host, int(fake.url.rsplit(":", 1)[1])
    return config
