"""Kubernetes clusters: a full kubeconfig, an endpoint + bearer token, or an endpoint + client certificate."""

from __future__ import annotations

from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider, ProviderValidationError, b64

KUBECONFIG_FILE = "kubeconfig"
_PIECES = ("token", "client_cert")


def _public_key_bytes(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class KubernetesProvider(Provider):
    """Kubernetes connection; every auth method materializes as a kubeconfig file (``KUBECONFIG``)."""

    code = "kubernetes"
    label = "Kubernetes"
    category = "kubernetes"
    description = "Any conformant Kubernetes cluster's API server."
    icon = "K8S"
    color = "#326ce5"
    test_description = "GET /version on the API server."
    auth_methods = (
        AuthMethod("kubeconfig", "Kubeconfig", "A self-contained kubeconfig (certificates embedded as *-data)."),
        AuthMethod("token", "Bearer token", "The API server URL and a service account token."),
        AuthMethod("client_cert", "Client certificate", "The API server URL and a client certificate and key."),
    )
    fields = (
        Field("endpoint", "API server URL", "url", required=False, validators=(v.http_or_https_url,),
              auth_methods=("kubeconfig",), help_text="Filled from the kubeconfig's current context when empty."),
        Field("endpoint", "API server URL", "url", validators=(v.https_url,), auth_methods=_PIECES,
              placeholder="https://k8s.example.com:6443"),
        Field("ca_data", "Cluster CA certificate", "pem", required=False, validators=(v.pem_certificate,),
              auth_methods=_PIECES, help_text="PEM or base64 (certificate-authority-data); empty = system trust."),
        Field("client_certificate", "Client certificate", "pem", validators=(v.pem_certificate,),
              auth_methods=("client_cert",)),
        Field("kubeconfig", "Kubeconfig", "yaml", secret=True, validators=(v.kubeconfig,),
              auth_methods=("kubeconfig",)),
        Field("token", "Bearer token", "string", secret=True, validators=(v.token_min_length(16),),
              auth_methods=("token",)),
        Field("client_key", "Client key", "pem", secret=True, validators=(v.pem_private_key,),
              auth_methods=("client_cert",)),
    )  # fmt: skip
    summary_fields = ("endpoint",)

    def clean_extra(
        self, auth_method: str, config: dict[str, Any], secrets: dict[str, Any], *, partial: bool = False
    ) -> None:
        """Derive the card's endpoint from a kubeconfig; refuse a client key that does not fit its certificate."""
        if auth_method == "kubeconfig" and secrets.get("kubeconfig") and not config.get("endpoint"):
            config["endpoint"] = v.kubeconfig_server(secrets["kubeconfig"])
        if auth_method == "client_cert" and config.get("client_certificate") and secrets.get("client_key"):
            cert = x509.load_pem_x509_certificates(config["client_certificate"].encode())[0]
            key = serialization.load_pem_private_key(secrets["client_key"].encode(), password=None)
            if _public_key_bytes(cert.public_key()) != _public_key_bytes(key.public_key()):
                raise ProviderValidationError({"client_key": ["This key does not match the client certificate."]})

    def build_kubeconfig(self, auth_method: str, config: dict[str, Any], secrets: dict[str, Any]) -> str:
        """A self-contained kubeconfig for the token and client_cert methods."""
        cluster: dict[str, Any] = {"server": config["endpoint"]}
        if config.get("ca_data"):
            cluster["certificate-authority-data"] = b64(config["ca_data"])
        if auth_method == "token":
            user: dict[str, Any] = {"token": secrets["token"]}
        else:
            user = {
                "client-certificate-data": b64(config["client_certificate"]),
                "client-key-data": b64(secrets["client_key"]),
            }
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cluster", "cluster": cluster}],
            "users": [{"name": "user", "user": user}],
            "contexts": [{"name": "default", "context": {"cluster": "cluster", "user": "user"}}],
            "current-context": "default",
            "preferences": {},
        }
        return yaml.safe_dump(document, sort_keys=False)

    def _materialize(
        self,
        auth_method: str,
        config: dict[str, Any],
        secrets: dict[str, Any],
        *,
        ref: Materialized | None,
        ref_config: dict[str, Any],
    ) -> Materialized:
        out = Materialized()
        if auth_method == "kubeconfig":
            content = secrets["kubeconfig"]
        else:
            content = self.build_kubeconfig(auth_method, config, secrets)
            if auth_method == "token":
                out.sensitive.add(secrets["token"])
        path = out.add_file(KUBECONFIG_FILE, content)
        out.set_env("KUBECONFIG", path)
        out.set_env("KUBE_CONFIG_PATH", path)  # Terraform's kubernetes and helm providers
        return out
