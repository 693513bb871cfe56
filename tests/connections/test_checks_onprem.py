"""Connection checks of user-run endpoints (Kubernetes, Proxmox VE, vCenter) against local HTTPS fakes.

These endpoints are typed in by users, so besides success and the provider's own failure reasons the
tests prove the two safety rules around them: TLS is verified against the right CA (a wrong cluster
CA fails before any credential is sent), and an on-prem check opens no private network of its own:
the subnet a member typed is not passed to the SSRF guard (only `ctx.allowed_networks`, which the
platform sets from an active VPN, is). The end-to-end proof with a real private peer in a network
namespace is in tests/connections/test_networks.py.
"""

from __future__ import annotations

import base64
import copy
import glob
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from connections.providers import get_provider
from connections.providers.contract import CheckContext, CheckFailed, CheckResult
from tests.connections.provider_examples import ca_certificate_pem, valid_examples
from tests.fakes.http import CertificateAuthority, FakeServer
from tests.fakes.kubernetes import KubernetesFake
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


# --------------------------------------------------------------------------------------------------
# Kubernetes
# --------------------------------------------------------------------------------------------------

K8S_TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.service-account-token"


@pytest.fixture
def cluster(loopback) -> Iterator[KubernetesFake]:
    with KubernetesFake(K8S_TOKEN) as fake:
        yield fake


def kubeconfig_for(fake: KubernetesFake, user: dict[str, str]) -> str:
    """The example kubeconfig, pointed at the fake and its CA, with `user` as the credentials."""
    data = yaml.safe_load(example("kubernetes", "kubeconfig")[1]["kubeconfig"])
    data["clusters"][0]["cluster"] = {
        "server": fake.url,
        "certificate-authority-data": base64.b64encode(fake.ca_pem.encode()).decode(),
    }
    data["users"][0]["user"] = user
    return yaml.safe_dump(data, sort_keys=False)


def netguard_temp_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "netguard-*")))


def test_kubernetes_token_verifies_the_cluster_ca_and_reports_the_version(cluster):
    config, secrets = example("kubernetes", "token")
    config.update(endpoint=cluster.url, ca_data=cluster.ca_pem)

    result = check("kubernetes", "token", config, secrets)

    assert result.message == f"Kubernetes v1.31.2 at {cluster.url}."
    assert result.details == {"gitVersion": "v1.31.2", "platform": "linux/amd64"}
    (request,) = cluster.requests
    assert request.path == "/version"
    assert request.header("Authorization") == f"Bearer {secrets['token']}"
    assert request.client_cert is None


def test_kubernetes_client_certificate_is_presented_and_its_files_removed(cluster):
    cert, key = cluster.ca.issue_client("terraform")
    config, _ = example("kubernetes", "client_cert")
    config.update(endpoint=cluster.url, ca_data=cluster.ca_pem, client_certificate=cert)
    secrets = {"client_key": key}
    before = netguard_temp_dirs()

    result = check("kubernetes", "client_cert", config, secrets)

    assert result.details["gitVersion"] == "v1.31.2"
    (request,) = cluster.requests
    assert request.client_common_name == "terraform"
    assert request.header("Authorization") is None
    assert netguard_temp_dirs() == before  # the key was on disk only for the duration of the call


@pytest.mark.parametrize("credential", ["token", "client_certificate"])
def test_kubernetes_kubeconfig_uses_its_current_context(cluster, credential):
    if credential == "token":
        user = {"token": K8S_TOKEN}
    else:
        cert, key = cluster.ca.issue_client("kubeconfig-user")
        user = {
            "client-certificate-data": base64.b64encode(cert.encode()).decode(),
            "client-key-data": base64.b64encode(key.encode()).decode(),
        }
    secrets = {"kubeconfig": kubeconfig_for(cluster, user)}

    result = check("kubernetes", "kubeconfig", {}, secrets)

    assert result.details["gitVersion"] == "v1.31.2"
    (request,) = cluster.requests
    if credential == "token":
        assert request.header("Authorization") == f"Bearer {K8S_TOKEN}"
    else:
        assert request.client_common_name == "kubeconfig-user"
    assert_no_secret(result.message + json.dumps(result.details), {"token": K8S_TOKEN})


def test_kubernetes_wrong_ca_fails_on_tls_before_sending_the_token(cluster):
    config, secrets = example("kubernetes", "token")
    config.update(endpoint=cluster.url, ca_data=ca_certificate_pem())  # the examples' CA, not the cluster's

    reason = fail("kubernetes", "token", config, secrets)

    assert reason.startswith("Could not reach the Kubernetes API server: the TLS certificate of 127.0.0.1:")
    assert "could not be verified" in reason
    assert cluster.requests == []


def test_kubernetes_bad_token_fails_with_the_api_message(cluster):
    config, secrets = example("kubernetes", "token")
    config.update(endpoint=cluster.url, ca_data=cluster.ca_pem)
    secrets["token"] = "not-the-service-account-token"

    assert fail("kubernetes", "token", config, secrets) == "Unauthorized"
    assert cluster.requests[0].header("Authorization") == "Bearer not-the-service-account-token"


def test_kubernetes_forbidden_user_gets_the_rbac_message(loopback):
    with KubernetesFake(K8S_TOKEN, forbid=True) as fake:
        config, secrets = example("kubernetes", "token")
        config.update(endpoint=fake.url, ca_data=fake.ca_pem)

        reason = fail("kubernetes", "token", config, secrets)

        assert reason == 'forbidden: User "system:serviceaccount:platform:terraform" cannot get path "/version"'


def test_kubernetes_client_certificate_from_another_ca_is_refused_by_the_server(cluster):
    cert, key = CertificateAuthority("someone else's CA").issue_client("intruder")
    config, _ = example("kubernetes", "client_cert")
    config.update(endpoint=cluster.url, ca_data=cluster.ca_pem, client_certificate=cert)

    reason = fail("kubernetes", "client_cert", config, {"client_key": key})

    assert reason.startswith("Could not reach the Kubernetes API server: TLS with 127.0.0.1:")
    assert cluster.requests == []


def test_kubernetes_kubeconfig_with_an_exec_plugin_is_explained(cluster):
    secrets = {"kubeconfig": kubeconfig_for(cluster, {"exec": {"command": "aws", "apiVersion": "v1beta1"}})}

    reason = fail("kubernetes", "kubeconfig", {}, secrets)

    assert "exec plugins and auth providers cannot run on the platform" in reason
    assert cluster.requests == []


# --------------------------------------------------------------------------------------------------
# Proxmox VE and vCenter
# --------------------------------------------------------------------------------------------------


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


SETUPS: dict[str, Callable[..., tuple[Any, dict[str, Any], dict[str, Any]]]] = {
    "proxmox": proxmox_setup,
    "vcenter": vcenter_setup,
}
METHODS = {"proxmox": "api_token", "vcenter": "password"}


def test_proxmox_sends_the_pveapitoken_header_and_reports_the_version(loopback):
    fake, config, secrets = proxmox_setup()
    with fake:
        config = point_at("proxmox", config, fake)

        result = check("proxmox", "api_token", config, secrets, trust=fake.ca_pem)

        assert result.message == f"Proxmox VE 8.2.4 at {fake.url} accepted API token 'terraform@pve!runner'."
        assert result.details == {"version": "8.2.4", "release": "8.2", "repoid": "faa83925c9641325"}
        (request,) = fake.requests
        assert request.path == "/api2/json/version"
        assert request.header("Authorization") == f"PVEAPIToken=terraform@pve!runner={secrets['token']}"


def test_proxmox_bad_token_fails_with_401(loopback):
    fake, config, secrets = proxmox_setup()
    with fake:
        config = point_at("proxmox", config, fake)
        secrets["token"] = "00000000-0000-4000-8000-000000000000"

        reason = fail("proxmox", "api_token", config, secrets, trust=fake.ca_pem)

        assert reason == "Proxmox VE refused API token 'terraform@pve!runner' (HTTP 401 authentication failure)."


def test_vcenter_opens_then_deletes_its_session(loopback):
    fake, config, secrets = vcenter_setup()
    with fake:
        config = point_at("vcenter", config, fake)

        result = check("vcenter", "password", config, secrets, trust=fake.ca_pem)

        assert result.message.startswith("Opened a vSphere API session on 127.0.0.1:")
        assert result.details["session_closed"] is True
        create, delete = fake.requests
        basic = base64.b64encode(f"terraform@vsphere.local:{secrets['password']}".encode()).decode()
        assert (create.method, create.path, create.header("Authorization")) == (
            "POST",
            "/api/session",
            f"Basic {basic}",
        )
        assert (delete.method, delete.path) == ("DELETE", "/api/session")
        assert delete.header("vmware-api-session-id") == fake.created[0]
        assert delete.header("Authorization") is None
        assert fake.sessions == set()
        assert fake.created[0] not in result.message + json.dumps(result.details)  # a session id is a credential


def test_vcenter_wrong_password_fails_with_401_and_opens_nothing(loopback):
    fake, config, secrets = vcenter_setup()
    with fake:
        config = point_at("vcenter", config, fake)
        secrets["password"] = "not-the-password"

        assert fail("vcenter", "password", config, secrets, trust=fake.ca_pem) == "Authentication required."
        assert [r.method for r in fake.requests] == ["POST"]
        assert fake.created == []


@pytest.mark.parametrize("provider", ["proxmox", "vcenter"])
def test_on_prem_tls_is_verified(provider, loopback):
    fake, config, secrets = SETUPS[provider]()
    with fake:
        reason = fail(provider, METHODS[provider], point_at(provider, config, fake), secrets)  # CA not trusted

        assert "could not be verified" in reason
        assert fake.requests == []


# -- the subnet rule -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["proxmox", "vcenter"])
def test_on_prem_checks_open_no_network_of_their_own(provider, loopback):
    """The typed subnet is not handed to the guard: only what the platform put in ctx.allowed_networks counts."""
    fake, config, secrets = SETUPS[provider]()
    with fake:
        ctx = context(provider, fake.ca_pem, cls=RecordingContext)

        get_provider(provider).check(METHODS[provider], point_at(provider, config, fake), secrets, ctx)

        assert ctx.calls
        assert all(not call.get("allowed_networks") for call in ctx.calls)


@pytest.mark.parametrize("provider", ["proxmox", "vcenter"])
@pytest.mark.parametrize("subnet", ["127.0.0.0/8", "192.168.50.0/24"])
def test_a_connection_subnet_cannot_open_loopback(provider, subnet):
    """Without the operator allow-list, neither a subnet covering 127/8 nor another one reaches the fake."""
    fake, config, secrets = SETUPS[provider]()
    with fake:
        config = {**point_at(provider, config, fake), "subnet": subnet}

        reason = fail(provider, METHODS[provider], config, secrets, trust=fake.ca_pem)

        assert "Refused to connect to '127.0.0.1': it is 127.0.0.1, a loopback address" in reason
        assert fake.requests == []
        assert fake.tls_failures == []  # not even a TCP connection reached it
