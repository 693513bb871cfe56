"""The provider registry: every connection type the platform knows, keyed by its API slug.

Pure Python (no Django models), so it can be imported from settings-free contexts: the API's
``GET /api/v1/providers/``, forms, services, Celery tasks and the run launcher.
"""

from __future__ import annotations

from .aws import AwsProvider
from .azure import AzureProvider
from .base import (
    CATEGORY_LABELS,
    AuthMethod,
    Field,
    FieldError,
    Materialized,
    MaterializeError,
    Provider,
    ProviderValidationError,
)
from .civo import CivoProvider
from .cloudflare import CloudflareProvider
from .digitalocean import DigitalOceanProvider
from .dockerhub import DockerHubProvider
from .ecr import EcrProvider
from .gcp import GcpProvider
from .gcr import GcrProvider
from .gcs_backend import GcsBackendProvider
from .github import GitHubProvider
from .gitlab import GitLabProvider
from .kubernetes import KubernetesProvider
from .proxmox import ProxmoxProvider
from .s3_backend import S3BackendProvider
from .scaleway import ScalewayProvider
from .vcenter import VCenterProvider

__all__ = [
    "CATEGORY_CHOICES",
    "CATEGORY_LABELS",
    "PROVIDER_CHOICES",
    "REGISTRY",
    "AuthMethod",
    "Field",
    "FieldError",
    "MaterializeError",
    "Materialized",
    "Provider",
    "ProviderValidationError",
    "UnknownProvider",
    "get_provider",
    "providers_by_category",
]


class UnknownProvider(KeyError):
    """No provider has this slug; a KeyError so ``except KeyError`` callers keep working."""

    def __init__(self, code: object) -> None:
        self.code = code
        self.message = f"Unknown provider {str(code)[:64]!r}. Known providers: {', '.join(REGISTRY)}."
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return self.message


# Order of the DESIGN.md table: it is the display order within each category.
REGISTRY: dict[str, Provider] = {
    provider.code: provider
    for provider in (
        AwsProvider(),
        GcpProvider(),
        AzureProvider(),
        DigitalOceanProvider(),
        ScalewayProvider(),
        CivoProvider(),
        CloudflareProvider(),
        GitHubProvider(),
        GitLabProvider(),
        DockerHubProvider(),
        EcrProvider(),
        GcrProvider(),
        S3BackendProvider(),
        GcsBackendProvider(),
        KubernetesProvider(),
        ProxmoxProvider(),
        VCenterProvider(),
    )
}

#: ``(slug, label)`` pairs for model/serializer choices.
PROVIDER_CHOICES: list[tuple[str, str]] = [(code, provider.label) for code, provider in REGISTRY.items()]
CATEGORY_CHOICES: list[tuple[str, str]] = list(CATEGORY_LABELS.items())


def get_provider(code: str) -> Provider:
    """The provider with this slug; raises UnknownProvider (a KeyError) with a readable message."""
    try:
        return REGISTRY[code]
    except (KeyError, TypeError):
        raise UnknownProvider(code) from None


def providers_by_category() -> dict[str, list[Provider]]:
    """Providers grouped by category, categories in CATEGORY_LABELS order, providers in registry order."""
    grouped: dict[str, list[Provider]] = {category: [] for category in CATEGORY_LABELS}
    for provider in REGISTRY.values():
        grouped[provider.category].append(provider)
    return {category: providers for category, providers in grouped.items() if providers}
