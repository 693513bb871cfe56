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
    "UnknownResourceType",
    "get_provider",
    "provider_for_resource",
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


class UnknownResourceType(ValueError):
    """No provider deploys this resource type."""

    def __init__(self, resource_type: object) -> None:
        self.message = (
            f"No provider deploys resource type {str(resource_type)[:80]!r}. Use a Terraform resource type "
            "(e.g. aws_db_instance, google_container_cluster) or a kind such as 'AWS RDS' or 'GKE'."
        )
        super().__init__(self.message)


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


def _normalize_kind(value: str) -> str:
    return " ".join(value.casefold().split())


def _resource_index() -> tuple[list[tuple[str, Provider]], dict[str, Provider]]:
    """(prefixes longest first, kinds) from every provider's declarations; a prefix or kind claimed
    by two providers is a programming error, found at import time."""
    prefixes: dict[str, Provider] = {}
    kinds: dict[str, Provider] = {}
    for provider in REGISTRY.values():
        for table, keys in ((prefixes, provider.terraform_prefixes), (kinds, provider.resource_kinds)):
            for key in keys:
                key = key if table is prefixes else _normalize_kind(key)
                if table.setdefault(key, provider) is not provider:
                    raise TypeError(f"{key!r} is declared by both {table[key].code!r} and {provider.code!r}.")
    return sorted(prefixes.items(), key=lambda item: -len(item[0])), kinds


_PREFIXES, _KINDS = _resource_index()


def provider_for_resource(resource_type: str) -> Provider:
    """The provider whose credentials deploy `resource_type`: a Terraform resource or data source type
    (longest declared prefix wins) or one of the resource kinds the providers name ("AWS RDS", "GKE")."""
    value = str(resource_type or "").strip()
    kind = _KINDS.get(_normalize_kind(value))
    if kind is not None:
        return kind
    for prefix, provider in _PREFIXES:
        if value.startswith(prefix) and len(value) > len(prefix):
            return provider
    raise UnknownResourceType(value)
