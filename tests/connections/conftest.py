"""Fixtures for connections: a helper that creates a valid connection of any provider."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import Organization
from connections import services
from connections.models import Connection
from tests.connections.provider_examples import valid_examples

# Providers whose example refers to another connection, and the name it refers to.
REFERENCES = {"ecr": "aws", "s3_backend": "aws", "gcr": "gcp", "gcs_backend": "gcp"}


def example(provider: str, auth_method: str | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    methods = valid_examples()[provider]
    method = auth_method or next(iter(methods))
    config, secrets = methods[method]
    return method, copy.deepcopy(config), copy.deepcopy(secrets)


@pytest.fixture
def make_connection(members) -> Callable[..., Connection]:
    """make_connection(org, provider, name=..., environments=[...], auth_method=..., config=..., secrets=...)."""

    def make(
        org: Organization,
        provider: str,
        *,
        name: str | None = None,
        environments: tuple[str, ...] = (),
        auth_method: str | None = None,
        config: dict[str, Any] | None = None,
        secrets: dict[str, Any] | None = None,
        actor: Any = None,
    ) -> Connection:
        method, ex_config, ex_secrets = example(provider, auth_method)
        actor = actor or org.memberships.filter(role="admin").first().user
        if provider in REFERENCES and "cloud_connection" in ex_config:
            ref_name = ex_config["cloud_connection"]
            if not Connection.objects.filter(org=org, name=ref_name).exists():
                make(org, REFERENCES[provider], name=ref_name, actor=actor)
        return services.do_create_connection(
            org,
            actor=actor,
            name=name or f"{provider.replace('_', '-')}-{method.replace('_', '-')}",
            provider=provider,
            auth_method=method,
            config={**ex_config, **(config or {})},
            secrets={**ex_secrets, **(secrets or {})},
            environments=environments,
        )

    return make
