"""Helpers of the provider tests: a provider example cleaned, materialized (with the connection it refers
to), and the field errors of a payload that must not clean."""

from __future__ import annotations

from typing import Any

import pytest

from connections.providers import REGISTRY, Materialized, ProviderValidationError, get_provider
from tests.connections.provider_examples import valid_examples

VALID = valid_examples()
ALL_METHODS = [(code, method.code) for code, provider in REGISTRY.items() for method in provider.auth_methods]


def cleaned(provider: str, method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    config, secrets = valid_examples()[provider][method]
    return get_provider(provider).clean(method, config, secrets)


def materialized(provider: str, method: str, **kwargs: Any) -> Materialized:
    config, secrets = cleaned(provider, method)
    return get_provider(provider).materialize(method, config, secrets, **kwargs)


def errors_of(provider: str, method: str, config: dict[str, Any], secrets: dict[str, Any], **kw: Any) -> dict:
    with pytest.raises(ProviderValidationError) as excinfo:
        get_provider(provider).clean(method, config, secrets, **kw)
    return excinfo.value.errors


REF_OF = {"ecr": ("aws", "access_key"), "s3_backend": ("aws", "access_key"), "gcr": ("gcp", "service_account_key"),
          "gcs_backend": ("gcp", "service_account_key")}  # fmt: skip


def materialize_example(provider: str, method: str) -> Materialized:
    if provider in REF_OF:
        ref_provider, ref_method = REF_OF[provider]
        ref_config, _ = cleaned(ref_provider, ref_method)
        return materialized(provider, method, ref=materialized(ref_provider, ref_method), ref_config=ref_config)
    return materialized(provider, method)
