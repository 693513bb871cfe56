"""The provider registry (connections/providers/__init__.py): exactly the providers of DESIGN.md, each
declared consistently (summary fields, categories and plans, descriptions, External ID, stored secrets), and
the shared examples cover every auth method and every validated field. Pure Python: no database, no network."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from connections import providers as providers_package
from connections.providers import (
    CATEGORY_LABELS,
    PROVIDER_CHOICES,
    REGISTRY,
    UnknownProvider,
    get_provider,
    providers_by_category,
)
from tests.connections.provider_examples import INVALID_CASES
from tests.connections.providers.conftest import ALL_METHODS, VALID

DESIGN_SLUGS = {
    "aws", "gcp", "azure", "digitalocean", "scaleway", "civo", "cloudflare", "github", "gitlab", "dockerhub",
    "ecr", "gcr", "s3_backend", "gcs_backend", "kubernetes", "proxmox", "vcenter",
}  # fmt: skip


def test_registry_holds_exactly_the_design_slugs() -> None:
    assert set(REGISTRY) == DESIGN_SLUGS
    assert all(provider.code == code for code, provider in REGISTRY.items())
    assert [code for code, _label in PROVIDER_CHOICES] == list(REGISTRY)


def test_every_provider_has_summary_fields_among_its_public_fields() -> None:
    for provider in REGISTRY.values():
        public = {field.name for field in provider.fields if not field.secret}
        assert provider.summary_fields, provider.code
        assert set(provider.summary_fields) <= public, provider.code


def test_categories_and_plans() -> None:
    grouped = providers_by_category()
    assert list(grouped) == list(CATEGORY_LABELS)
    assert [p.code for p in grouped["on_prem"]] == ["proxmox", "vcenter"]
    assert [p.code for p in grouped["cloud"]][:3] == ["aws", "gcp", "azure"]
    assert {p.code for p in REGISTRY.values() if p.requires_plan == "enterprise"} == {"proxmox", "vcenter"}
    assert all(p.requires_plan == "free" for p in REGISTRY.values() if p.category != "on_prem")


def test_get_provider_unknown_is_a_readable_key_error() -> None:
    with pytest.raises(KeyError) as excinfo:
        get_provider("openstack")
    assert isinstance(excinfo.value, UnknownProvider)
    assert str(excinfo.value).startswith("Unknown provider 'openstack'.")
    assert "aws" in str(excinfo.value)


def test_registry_does_not_import_django_models() -> None:
    """Checked statically so the result does not depend on what the `connections` package imports."""
    package = Path(providers_package.__file__).parent
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            else:
                continue
            for name in names:
                assert not name.startswith(("django", "rest_framework")), f"{path.name} imports {name}"
                assert "models" not in name.split("."), f"{path.name} imports {name}"


def test_as_dict_is_json_serializable_without_callables() -> None:
    def walk(value: Any) -> None:
        assert not callable(value), value
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            assert value is None or isinstance(value, str | int | float | bool), type(value)

    for provider in REGISTRY.values():
        data = provider.as_dict()
        json.dumps(data)
        walk(data)
        assert data["code"] == provider.code
        assert {m["code"] for m in data["auth_methods"]} == set(provider.auth_method_codes)
        assert all("validators" not in field for field in data["fields"])
        assert len(provider.icon) <= 400


def test_external_id_only_for_aws_assume_role() -> None:
    flagged = [(code, method) for code, method in ALL_METHODS if get_provider(code).external_id_required(method)]
    assert flagged == [("aws", "assume_role")]
    aws = get_provider("aws")
    assert not aws.get_auth_method("assume_role").stores_secret
    assert not any(field.name == "external_id" for field in aws.fields)


def test_stores_secret_matches_secret_fields() -> None:
    for code, method in ALL_METHODS:
        provider = get_provider(code)
        has_required_secret = any(f.required for f in provider.secret_fields(method))
        assert provider.get_auth_method(method).stores_secret == has_required_secret, (code, method)


def test_valid_examples_cover_every_auth_method() -> None:
    assert {(p, m) for p, methods in VALID.items() for m in methods} == set(ALL_METHODS)


def test_invalid_cases_cover_every_validated_field() -> None:
    covered = {(provider, field) for provider, _method, field, _value in INVALID_CASES}
    validated = {
        (provider.code, field.name)
        for provider in REGISTRY.values()
        for field in provider.fields
        if field.validators or field.kind in ("choice", "integer", "connection_ref")
    }
    assert validated - covered == set()


def test_every_validator_is_exercised_by_some_field() -> None:
    used = {fn for provider in REGISTRY.values() for field in provider.fields for fn in field.validators}
    used_names = {fn.__name__ for fn in used}
    for name in ("aws_account_id", "aws_region", "aws_access_key_id", "aws_secret_access_key", "aws_role_arn", "guid",
                 "azure_region", "gcp_project_id", "gcp_service_account_key", "https_url",
                 "kubeconfig", "pem_certificate", "pem_private_key", "cidr", "public_ipv4", "hostname_or_ip", "port",
                 "gcs_bucket", "s3_bucket", "dockerhub_namespace", "github_token", "gitlab_token"):  # fmt: skip
        assert name in used_names, name


def test_every_url_host_port_and_ca_field_is_a_destination() -> None:
    """A new provider cannot forget to declare where its secret goes."""
    for spec in REGISTRY.values():
        for field in spec.fields:
            if not field.secret and (field.kind == "url" or field.name in ("host", "port", "ca_data", "endpoint")):
                assert field.name in spec.destination_fields, f"{spec.code}.{field.name}"
