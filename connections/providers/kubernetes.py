"""Kubernetes clusters: a full kubeconfig, an endpoint + bearer token, or an endpoint + client certificate."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import validators as v
from .base import AuthMethod, Field, FieldError, Materialized, Provider, ProviderValidationError, b64
from .contract import CheckContext, CheckFailed, CheckResult
from .httpcheck import CheckClient, json_or_empty, text_field

KUBECONFIG_FILE = "kubeconfig"
_PIECES = ("token", "client_cert")


def _public_key_bytes(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class ApiAccess:
    """How to reach and authenticate to one API server, whichever auth method the connection uses."""

    server: str
    ca_data: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    client_cert: tuple[str, str] | None = None
    #: the credentials in use, scrubbed from reasons (a kubeconfig's token is not a payload value itself)
    sensitive: dict[str, str] = field(default_factory=dict)


def _named(data: Mapping[str, Any], section: str, key: str, name: Any) -> Mapping[str, Any]:
    for item in data.get(section) or ():
        if isinstance(item, Mapping) and item.get("name") == name and isinstance(item.get(key), Mapping):
            return item[key]
    return {}


def _decoded(value: Any, what: str) -> str:
    """A kubeconfig ``*-data`` value (base64 of PEM) as PEM text."""
    try:
        return base64.b64decode("".join(str(value).split()), validate=True).decode()
    except (binascii.Error, ValueError):
        raise CheckFailed(f"The kubeconfig's {what} is not valid base64.") from None


def kubeconfig_access(text: str) -> ApiAccess:
    """Server, cluster CA and credentials of a kubeconfig's current context.

    Only embedded credentials can be used: a bearer ``token``, or ``client-certificate-data`` with
    ``client-key-data``. Exec plugins and auth providers would run programs on the platform, so a
    kubeconfig relying on them fails with a reason saying what to use instead.
    ``insecure-skip-tls-verify`` is ignored on purpose: the token is never sent to an unverified server.
    """
    try:
        data = v.parse_kubeconfig(text)
    except FieldError as exc:
        raise CheckFailed(f"The kubeconfig is not usable: {exc.message}") from None
    context = _named(data, "contexts", "context", data["current-context"])
    cluster = _named(data, "clusters", "cluster", context.get("cluster"))
    user = _named(data, "users", "user", context.get("user"))
    access = ApiAccess(server=str(cluster["server"]))
    if cluster.get("certificate-authority-data"):
        try:
            access.ca_data = v.pem_certificate(cluster["certificate-authority-data"])
        except FieldError as exc:
            raise CheckFailed(f"The kubeconfig's certificate-authority-data is not usable: {exc.message}") from None
    if user.get("token"):
        token = str(user["token"])
        access.headers["Authorization"] = f"Bearer {token}"
        access.sensitive["token"] = token
    elif user.get("client-certificate-data") and user.get("client-key-data"):
        key = _decoded(user["client-key-data"], "client-key-data")
        access.client_cert = (_decoded(user["client-certificate-data"], "client-certificate-data"), key)
        access.sensitive["client_key"] = key
    else:
        raise CheckFailed(
            "The kubeconfig's user has no embedded token or client certificate and key "
            "(exec plugins and auth providers cannot run on the platform)."
        )
    return access


class KubernetesProvider(Provider):
    """Kubernetes connection; every auth method materializes as a kubeconfig file (``KUBECONFIG``)."""

    code = "kubernetes"
    terraform_prefixes = ("kubernetes_", "helm_", "kubectl_")
    resource_kinds = ("Kubernetes", "Helm release", "Kubernetes namespace")
    destination_fields = ("endpoint", "ca_data")
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
        Field("endpoint", "API server URL", "url", required=False, validators=(v.https_url,),
              auth_methods=("kubeconfig",), help_text="Always the kubeconfig's current server (filled in from it)."),
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
        """The endpoint shown is the kubeconfig's server (where the credentials really go); refuse a client key
        that does not fit its certificate."""
        if auth_method == "kubeconfig" and secrets.get("kubeconfig"):
            server = v.kubeconfig_server(secrets["kubeconfig"])
            if config.get("endpoint") and config["endpoint"].rstrip("/") != server.rstrip("/"):
                raise ProviderValidationError(
                    {"endpoint": [f"Must be the kubeconfig's server ({server}), where the credentials are sent."]}
                )
            config["endpoint"] = server
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

    def check(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: CheckContext
    ) -> CheckResult:
        """``GET /version`` on the API server over verified TLS, with the connection's credentials.

        The cluster CA (``ca_data`` or the kubeconfig's ``certificate-authority-data``) replaces the
        default bundle, so a server presenting any other certificate fails; without one, the default
        bundle (plus the operator's extra CA) applies. A client key is handed to the guard as PEM text; it
        writes it to a private 0600 file only for the duration of the call.
        """
        access = self.api_access(auth_method, config, secrets)
        client = CheckClient(
            ctx,
            "the Kubernetes API server",
            secrets={**secrets, **access.sensitive},
            headers=access.headers,
            ca_data=access.ca_data,
            client_cert=access.client_cert,
        )
        response = client.call("GET", f"{access.server.rstrip('/')}/version")
        body = json_or_empty(response)
        if response.status in (401, 403):
            default = "Unauthorized" if response.status == 401 else "Forbidden"
            raise client.failed(text_field(body, "message") or default)
        if response.status != 200:
            raise client.unexpected(response, text_field(body, "message"))
        git_version = text_field(body, "gitVersion")
        details = {"gitVersion": git_version, "platform": text_field(body, "platform") or None}
        return client.result(f"Kubernetes {git_version or '(unknown version)'} at {access.server}.", details)

    @staticmethod
    def api_access(auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any]) -> ApiAccess:
        """Where and how to authenticate, from a kubeconfig or from the endpoint/CA/credential fields."""
        if auth_method == "kubeconfig":
            return kubeconfig_access(secrets["kubeconfig"])
        access = ApiAccess(server=str(config["endpoint"]), ca_data=config.get("ca_data") or None)
        if auth_method == "token":
            access.headers["Authorization"] = f"Bearer {secrets['token']}"
        else:
            access.client_cert = (config["client_certificate"], secrets["client_key"])
        return access
