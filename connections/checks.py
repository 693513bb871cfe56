"""What a provider's connection test gets and returns.

Each provider module implements `Provider.check(auth_method, config, secrets, ctx) -> CheckResult`
(the "test" column of DESIGN.md). It receives everything through `CheckContext`, so a provider never
reads settings, never resolves another connection itself, and every endpoint can point at loopback in
tests: platform endpoints come from `PROVIDER_ENDPOINTS` (settings, overridable per name with the
environment variable `PROVIDER_ENDPOINT_<NAME>`), AWS calls honour `AWS_ENDPOINT_URL` through boto3,
and user-supplied URLs (GitLab/GitHub Enterprise base URL, Kubernetes server, Proxmox, vCenter) go
through the SSRF guard with the connection's own on-prem subnet as the only private exception.

A failed check raises `CheckFailed(reason)` with the provider's own words; the caller records
`Authentication failed: <reason>` (DESIGN.md) with the duration, and never a secret (the reason is
masked before it is stored).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# Defaults are the real public endpoints; tests override them with loopback fakes.
DEFAULT_ENDPOINTS: dict[str, str] = {
    "github": "https://api.github.com",
    "gitlab": "https://gitlab.com",
    "dockerhub": "https://hub.docker.com",
    "digitalocean": "https://api.digitalocean.com",
    "scaleway": "https://api.scaleway.com",
    "civo": "https://api.civo.com",
    "cloudflare": "https://api.cloudflare.com/client/v4",
    "azure_authority": "https://login.microsoftonline.com",
    "azure_management": "https://management.azure.com",
    "gcp_token": "https://oauth2.googleapis.com/token",
    "gcp_resource_manager": "https://cloudresourcemanager.googleapis.com",
    "gcp_sts": "https://sts.googleapis.com/v1/token",
    "gcp_iam_credentials": "https://iamcredentials.googleapis.com",
    "gcp_storage": "https://storage.googleapis.com",
    "gcr_token": "https://gcr.io/v2/token",
}


def endpoint(name: str) -> str:
    """The base URL for a platform endpoint: env `PROVIDER_ENDPOINT_<NAME>`, then settings, then default."""
    from django.conf import settings

    env_value = os.environ.get(f"PROVIDER_ENDPOINT_{name.upper()}")
    if env_value:
        return env_value.rstrip("/")
    configured = getattr(settings, "PROVIDER_ENDPOINTS", {}) or {}
    return str(configured.get(name) or DEFAULT_ENDPOINTS[name]).rstrip("/")


class CheckFailed(Exception):
    """The provider rejected the credentials or the check could not complete; `reason` is shown."""

    def __init__(self, reason: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details or {}


@dataclass
class CheckResult:
    """A passed check: a short human message (e.g. "Authenticated as arn:aws:iam::…") and facts."""

    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReferencedCredentials:
    """The cloud connection an ECR/GCR/state-backend connection uses, already decrypted for this check."""

    provider: str
    auth_method: str
    config: dict[str, Any]
    secrets: dict[str, Any]
    external_id: str = ""


@dataclass
class CheckContext:
    """Everything a provider check may use. Built by the test service; providers treat it as read-only."""

    org_slug: str
    connection_name: str
    external_id: str = ""
    # AWS assume_role: the role to assume (from the connection's first connection role, when any).
    role_arn: str | None = None
    ref: ReferencedCredentials | None = None
    allowed_networks: tuple[str, ...] = ()
    timeout: float = 10.0
    # Signs a short-lived OIDC client assertion (Azure federated, AWS web identity, GCP workload identity).
    sign_assertion: Callable[[str], str] | None = None
    platform_aws_account_id: Callable[[], str] | None = None
    # CA bundle for the Azure authority (settings AZURE_CA_BUNDLE; tests point it at a local fake's CA).
    azure_ca_bundle: str | None = None
    # Extra trusted CA certificates (PEM) for self-hosted endpoints with a company CA; added to certifi's.
    extra_ca_data: str = ""

    def endpoint(self, name: str) -> str:
        return endpoint(name)

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        """An HTTP call through the SSRF guard (pinned resolution, bounded time and size)."""
        from core.netguard import guarded_request

        allowed: Iterable[str] = (*self.allowed_networks, *kwargs.pop("allowed_networks", ()))
        kwargs.setdefault("timeout", self.timeout)
        return guarded_request(method, url, allowed_networks=tuple(allowed), **kwargs)

    def aws_client(self, service: str, *, region: str, credentials: dict[str, str] | None = None) -> Any:
        """A boto3 client (AWS_ENDPOINT_URL respected by boto3 itself), with explicit credentials if given."""
        from .aws_clients import client

        return client(service, region=region, credentials=credentials, timeout=self.timeout)
