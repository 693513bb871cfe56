"""Kubernetes (connections/providers/kubernetes.py): the check against a local HTTPS fake of the API server
(token, client certificate, kubeconfig; the cluster CA is verified before any credential is sent), and
materialization."""

from __future__ import annotations

import base64
import glob
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from connections.providers import ProviderValidationError, get_provider
from connections.providers import validators as v
from tests.connections.provider_examples import (
    ca_certificate_pem,
    client_certificate_pem,
    kubeconfig_yaml,
    valid_examples,
)
from tests.connections.providers.checks_onprem import (
    _no_operator_allow_list,  # noqa: F401
    assert_no_secret,
    check,
    example,
    fail,
    loopback,  # noqa: F401
)
from tests.connections.providers.conftest import VALID, cleaned, materialized
from tests.fakes.http import CertificateAuthority
from tests.fakes.kubernetes import KubernetesFake

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


# --- Cleaning and materialization -----------------------------------------------------------------


def test_kubeconfig_endpoint_is_filled_from_the_current_cluster() -> None:
    config, _ = cleaned("kubernetes", "kubeconfig")
    assert config["endpoint"] == "https://k8s.example.com:6443"
    _, example_secrets = valid_examples()["kubernetes"]["kubeconfig"]
    spec = get_provider("kubernetes")
    config, _ = spec.clean("kubeconfig", {"endpoint": "https://k8s.example.com:6443/"}, example_secrets)
    assert config["endpoint"] == "https://k8s.example.com:6443"


def test_kubeconfig_endpoint_cannot_differ_from_where_the_credentials_go() -> None:
    """A card showing one server while the kubeconfig sends the token to another would hide a redirect."""
    _, example_secrets = valid_examples()["kubernetes"]["kubeconfig"]
    with pytest.raises(ProviderValidationError) as caught:
        get_provider("kubernetes").clean("kubeconfig", {"endpoint": "https://lb.example.com"}, example_secrets)
    assert caught.value.errors["endpoint"] == [
        "Must be the kubeconfig's server (https://k8s.example.com:6443), where the credentials are sent."
    ]


@pytest.mark.parametrize("server", ["http://k8s.example.com:6443", "ftp://k8s.example.com"])
def test_kubeconfig_servers_must_be_https(server: str) -> None:
    with pytest.raises(ProviderValidationError) as caught:
        get_provider("kubernetes").clean("kubeconfig", {}, {"kubeconfig": kubeconfig_yaml(server=server)})
    assert caught.value.errors["kubeconfig"] == ["The current context's cluster server must be an https:// URL."]


@pytest.mark.parametrize("method", ["kubeconfig", "token", "client_cert"])
def test_kubernetes_kubeconfig_file(method: str, tmp_path: Path) -> None:
    out = materialized("kubernetes", method)
    env = out.write(tmp_path)
    data = yaml.safe_load(Path(env["KUBECONFIG"]).read_text())
    v.parse_kubeconfig(data)  # a valid, self-contained kubeconfig
    cluster = data["clusters"][0]["cluster"]
    assert cluster["server"] == "https://k8s.example.com:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]).decode() == ca_certificate_pem()
    user = data["users"][0]["user"]
    if method == "token":
        assert user["token"] == VALID["kubernetes"]["token"][1]["token"]
    if method == "client_cert":
        assert base64.b64decode(user["client-certificate-data"]).decode() == client_certificate_pem()
        assert "PRIVATE KEY" in base64.b64decode(user["client-key-data"]).decode()
