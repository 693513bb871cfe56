"""Tests of the provider registry: declarations, validation, materialization and descriptions.

Pure Python (no database, no network): run with ``-p no:django`` while settings are in flux.
"""

from __future__ import annotations

import ast
import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from connections import providers as providers_package
from connections.providers import (
    CATEGORY_LABELS,
    PROVIDER_CHOICES,
    REGISTRY,
    Materialized,
    MaterializeError,
    ProviderValidationError,
    UnknownProvider,
    get_provider,
    providers_by_category,
)
from connections.providers import validators as v
from connections.providers.base import FieldError
from tests.connections.provider_examples import (
    INVALID_CASES,
    ca_certificate_pem,
    client_certificate_pem,
    kubeconfig_yaml,
    valid_examples,
)

DESIGN_SLUGS = {
    "aws", "gcp", "azure", "digitalocean", "scaleway", "civo", "cloudflare", "github", "gitlab", "dockerhub",
    "ecr", "gcr", "s3_backend", "gcs_backend", "kubernetes", "proxmox", "vcenter",
}  # fmt: skip

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


# -- registry --------------------------------------------------------------------------------------


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


# -- valid examples --------------------------------------------------------------------------------


def test_valid_examples_cover_every_auth_method() -> None:
    assert {(p, m) for p, methods in VALID.items() for m in methods} == set(ALL_METHODS)


@pytest.mark.parametrize(("provider", "method"), ALL_METHODS)
def test_valid_example_cleans(provider: str, method: str) -> None:
    config, secrets = valid_examples()[provider][method]
    clean_config, clean_secrets = get_provider(provider).clean(method, config, secrets)
    assert set(clean_secrets) <= {f.name for f in get_provider(provider).secret_fields(method)}
    assert set(clean_config) <= {f.name for f in get_provider(provider).public_fields(method)}
    # Cleaning is idempotent: what the platform stores cleans again to itself.
    assert get_provider(provider).clean(method, clean_config, clean_secrets) == (clean_config, clean_secrets)


def test_defaults_are_applied_and_strings_stripped() -> None:
    config, secrets = get_provider("aws").clean(
        "access_key",
        {"account_id": " 1234-5678-9012 ", "access_key_id": "AKIAIOSFODNN7EXAMPLE\n"},
        {"secret_access_key": "  wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY  "},
    )
    assert config == {"account_id": "123456789012", "region": "us-east-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE"}
    assert secrets == {"secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
    gh_config, _ = get_provider("github").clean("pat", {}, {"token": "ghp_" + "a" * 36})
    assert gh_config == {"base_url": "https://api.github.com"}
    vc_config, _ = cleaned("vcenter", "password")
    assert vc_config["port"] == 443


def test_normalizations() -> None:
    config, _ = get_provider("gitlab").clean(
        "pat", {"base_url": "https://gitlab.example.com/api/v4/"}, {"token": "glpat-" + "x" * 20}
    )
    assert config["base_url"] == "https://gitlab.example.com"
    config, _ = get_provider("github").clean("oauth", {"base_url": "https://github.com/"}, {"token": "gho_" + "a" * 36})
    assert config["base_url"] == "https://api.github.com"
    for pasted, expected in (
        ("https://ghe.example.com/", "https://ghe.example.com/api/v3"),
        ("https://api.acme.ghe.com", "https://api.acme.ghe.com"),
    ):
        config, _ = get_provider("github").clean("pat", {"base_url": pasted}, {"token": "ghp_" + "a" * 36})
        assert config["base_url"] == expected
    config, _ = get_provider("civo").clean("api_token", {"region": "lon1"}, {"token": "k" * 40})
    assert config["region"] == "LON1"
    config, _ = get_provider("azure").clean(
        "federated", {**VALID["azure"]["federated"][0], "region": "West Europe"}, {}
    )
    assert config["region"] == "westeurope"
    example = valid_examples()["proxmox"]["api_token"]
    config, _ = get_provider("proxmox").clean("api_token", {**example[0], "subnet": "192.168.50.77/24"}, example[1])
    assert config["subnet"] == "192.168.50.0/24"


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


def test_every_url_host_port_and_ca_field_is_a_destination() -> None:
    """A new provider cannot forget to declare where its secret goes."""
    for spec in REGISTRY.values():
        for field in spec.fields:
            if not field.secret and (field.kind == "url" or field.name in ("host", "port", "ca_data", "endpoint")):
                assert field.name in spec.destination_fields, f"{spec.code}.{field.name}"


# -- invalid cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "method", "field", "bad_value"), INVALID_CASES)
def test_invalid_case_fails_on_exactly_that_field(provider: str, method: str, field: str, bad_value: Any) -> None:
    config, secrets = valid_examples()[provider][method]
    definition = get_provider(provider).get_field(method, field)
    assert definition is not None, f"{provider}/{method} has no field {field}"
    (secrets if definition.secret else config)[field] = bad_value
    errors = errors_of(provider, method, config, secrets)
    assert set(errors) == {field}, errors
    assert all(message and isinstance(message, str) for message in errors[field])
    if definition.secret and isinstance(bad_value, str) and len(bad_value.strip()) >= 8:
        assert bad_value.strip() not in json.dumps(errors)


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


def test_unknown_field_is_reported_on_its_key() -> None:
    config, secrets = valid_examples()["aws"]["access_key"]
    config["colour"] = "blue"
    secrets["extra"] = "x"
    errors = errors_of("aws", "access_key", config, secrets)
    assert errors == {"colour": ["Unknown field."], "extra": ["Unknown field."]}


def test_field_of_another_auth_method_is_rejected() -> None:
    config, secrets = valid_examples()["aws"]["assume_role"]
    config["access_key_id"] = "AKIAIOSFODNN7EXAMPLE"
    errors = errors_of("aws", "assume_role", config, secrets)
    assert list(errors) == ["access_key_id"]
    assert "does not apply" in errors["access_key_id"][0]


def test_secret_in_config_and_public_in_secrets() -> None:
    config, secrets = valid_examples()["aws"]["access_key"]
    key = secrets.pop("secret_access_key")
    config["secret_access_key"] = key
    secrets["account_id"] = config.pop("account_id")
    errors = errors_of("aws", "access_key", config, secrets)
    assert errors == {
        "secret_access_key": ["This field is secret: send it in secrets."],
        "account_id": ["This field is not secret: send it in config."],
    }
    assert key not in str(ProviderValidationError(errors))


def test_missing_required_fields_are_all_reported() -> None:
    errors = errors_of("azure", "client_secret", {}, {})
    assert errors == {
        name: ["This field is required."] for name in ("subscription_id", "tenant_id", "client_id", "client_secret")
    }


def test_unknown_auth_method() -> None:
    errors = errors_of("aws", "password", {}, {})
    assert list(errors) == ["auth_method"]
    assert "access_key" in errors["auth_method"][0]


def test_non_mapping_payload() -> None:
    errors = errors_of("aws", "access_key", ["not", "a", "dict"], {})  # type: ignore[arg-type]
    assert list(errors) == ["non_field_errors"]


def test_partial_validates_only_given_fields() -> None:
    aws = get_provider("aws")
    assert aws.clean("access_key", {}, {"secret_access_key": "A" * 40}, partial=True) == (
        {},
        {"secret_access_key": "A" * 40},
    )
    assert aws.clean("access_key", {"region": "eu-central-1"}, {}, partial=True) == ({"region": "eu-central-1"}, {})
    assert errors_of("aws", "access_key", {"region": "nowhere"}, {}, partial=True) == {
        "region": ["Unknown AWS region 'nowhere'."]
    }
    # Blank optional field in a PATCH means "clear it"; a blank required field is an error.
    assert get_provider("github").clean("pat", {"organization": ""}, {}, partial=True) == ({"organization": None}, {})
    assert list(errors_of("aws", "access_key", {"account_id": ""}, {}, partial=True)) == ["account_id"]


def test_partial_rotation_of_proxmox_password_does_not_need_the_username() -> None:
    proxmox = get_provider("proxmox")
    assert proxmox.clean("api_token", {}, {"ssh_password": "new password"}, partial=True)[1] == {
        "ssh_password": "new password"
    }
    config, secrets = valid_examples()["proxmox"]["api_token"]
    del config["ssh_username"]
    assert errors_of("proxmox", "api_token", config, secrets) == {
        "ssh_username": ["Required when an SSH password is set."]
    }


def test_endpoint_outside_subnet_message() -> None:
    config, secrets = valid_examples()["proxmox"]["api_token"]
    config["api_endpoint"] = "https://10.0.0.5:8006"
    errors = errors_of("proxmox", "api_token", config, secrets)
    assert errors == {"api_endpoint": ["The API endpoint must be inside the on-prem subnet 192.168.50.0/24."]}
    config["api_endpoint"] = "https://pve.corp.example:8006"  # a host name cannot be checked offline
    get_provider("proxmox").clean("api_token", config, secrets)


def test_errors_never_echo_secret_values() -> None:
    token = "ghp_" + "Z" * 30 + " spaced-secret"
    errors = errors_of("github", "pat", {}, {"token": token})
    assert "spaced-secret" not in json.dumps(errors)
    key = json.dumps(
        {"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com", "private_key": "SECRETPEM"}
    )
    errors = errors_of("gcp", "service_account_key", {"project_id": "my-project-123456"}, {"service_account_key": key})
    assert "SECRETPEM" not in json.dumps(errors)


def test_oversized_and_multiline_values_are_rejected() -> None:
    assert list(errors_of("civo", "api_token", {}, {"token": "k" * 5000})) == ["token"]
    assert list(errors_of("github", "pat", {"organization": "acme\nGITHUB_TOKEN=x"}, {"token": "gho_" + "a" * 36})) == [
        "organization"
    ]


# -- materialize -----------------------------------------------------------------------------------

EXPECTED_ENV: dict[tuple[str, str], set[str]] = {
    ("aws", "access_key"): {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"},
    ("aws", "assume_role"): {"AWS_REGION", "AWS_DEFAULT_REGION"},
    ("aws", "web_identity"): {"AWS_REGION", "AWS_DEFAULT_REGION"},
    ("gcp", "service_account_key"): {"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"},
    ("gcp", "workload_identity"): {"GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"},
    ("azure", "client_secret"): {
        "ARM_SUBSCRIPTION_ID", "ARM_TENANT_ID", "ARM_CLIENT_ID", "ARM_CLIENT_SECRET",
        "AZURE_SUBSCRIPTION_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
    },
    ("azure", "federated"): {
        "ARM_SUBSCRIPTION_ID", "ARM_TENANT_ID", "ARM_CLIENT_ID", "ARM_USE_OIDC", "AZURE_CLIENT_ID",
    },
    ("digitalocean", "api_token"): {"DIGITALOCEAN_TOKEN"},
    ("scaleway", "api_token"): {
        "SCW_ACCESS_KEY", "SCW_SECRET_KEY", "SCW_DEFAULT_ORGANIZATION_ID", "SCW_DEFAULT_PROJECT_ID",
        "SCW_DEFAULT_REGION",
    },
    ("civo", "api_token"): {"CIVO_TOKEN"},
    ("cloudflare", "api_token"): {"CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID"},
    ("github", "oauth"): {"GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL", "GITHUB_OWNER"},
    ("github", "pat"): {"GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL", "GITHUB_OWNER"},
    ("gitlab", "oauth"): {"GITLAB_TOKEN", "GITLAB_BASE_URL", "CI_SERVER_URL"},
    ("gitlab", "pat"): {"GITLAB_TOKEN", "GITLAB_BASE_URL", "CI_SERVER_URL"},
    ("dockerhub", "pat"): {"DOCKER_CONFIG"},
    ("ecr", "cloud_connection"): {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "ECR_REGISTRY"},
    ("gcr", "cloud_connection"): {"GOOGLE_APPLICATION_CREDENTIALS", "GCR_REGISTRY"},
    ("s3_backend", "cloud_connection"): {
        "AWS_ACCESS_KEY_ID", "TF_BACKEND_BUCKET", "TF_BACKEND_REGION", "TF_BACKEND_KEY_PREFIX",
    },
    ("gcs_backend", "cloud_connection"): {
        "GOOGLE_APPLICATION_CREDENTIALS", "TF_BACKEND_BUCKET", "TF_BACKEND_KEY_PREFIX",
    },
    ("kubernetes", "kubeconfig"): {"KUBECONFIG"},
    ("kubernetes", "token"): {"KUBECONFIG"},
    ("kubernetes", "client_cert"): {"KUBECONFIG"},
    ("proxmox", "api_token"): {
        "PROXMOX_VE_ENDPOINT", "PROXMOX_VE_API_TOKEN", "PROXMOX_VE_SSH_USERNAME", "PROXMOX_VE_SSH_PASSWORD",
    },
    ("vcenter", "password"): {"VSPHERE_SERVER", "VSPHERE_USER", "VSPHERE_PASSWORD", "VSPHERE_ALLOW_UNVERIFIED_SSL"},
}  # fmt: skip

REF_OF = {"ecr": ("aws", "access_key"), "s3_backend": ("aws", "access_key"), "gcr": ("gcp", "service_account_key"),
          "gcs_backend": ("gcp", "service_account_key")}  # fmt: skip


def materialize_example(provider: str, method: str) -> Materialized:
    if provider in REF_OF:
        ref_provider, ref_method = REF_OF[provider]
        ref_config, _ = cleaned(ref_provider, ref_method)
        return materialized(provider, method, ref=materialized(ref_provider, ref_method), ref_config=ref_config)
    return materialized(provider, method)


def test_expected_env_covers_every_auth_method() -> None:
    assert set(EXPECTED_ENV) == set(ALL_METHODS)


@pytest.mark.parametrize(("provider", "method"), ALL_METHODS)
def test_materialize_sets_documented_env(provider: str, method: str, tmp_path: Path) -> None:
    out = materialize_example(provider, method)
    assert EXPECTED_ENV[provider, method] <= set(out.env), set(out.env)
    env = out.write(tmp_path)
    for value in env.values():
        assert "{file:" not in value and "{dir:" not in value
    for name in out.files:
        path = tmp_path / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Every env var that carries a secret is registered for masking in logs and run output.
    _config, secrets = cleaned(provider, method)
    for value in out.env.values():
        if any(isinstance(secret, str) and secret in value for secret in secrets.values()):
            assert value in out.sensitive


def test_aws_values_and_session_token() -> None:
    env = materialized("aws", "access_key").env
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAIOSFODNN7EXAMPLE"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert "AWS_SESSION_TOKEN" not in env
    config, _ = cleaned("aws", "assume_role")
    temporary = {"access_key_id": "ASIAIOSFODNN7EXAMPLE", "secret_access_key": "s" * 40, "session_token": "tok"}
    env = get_provider("aws").materialize("assume_role", config, temporary).env
    assert env["AWS_ACCESS_KEY_ID"] == "ASIAIOSFODNN7EXAMPLE"
    assert env["AWS_SESSION_TOKEN"] == "tok"


def test_aws_web_identity_token_file(tmp_path: Path) -> None:
    config, _ = cleaned("aws", "web_identity")
    out = get_provider("aws").materialize("web_identity", config, {"web_identity_token": "jwt.jwt.jwt"})
    env = out.write(tmp_path)
    assert Path(env["AWS_WEB_IDENTITY_TOKEN_FILE"]).read_text() == "jwt.jwt.jwt"
    assert env["AWS_ROLE_ARN"] == config["role_arn"]


def test_gcp_credentials_file(tmp_path: Path) -> None:
    out = materialized("gcp", "service_account_key")
    env = out.write(tmp_path)
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == str(tmp_path / "gcp-credentials.json")
    key = json.loads(Path(env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
    assert key["type"] == "service_account" and "BEGIN PRIVATE KEY" in key["private_key"]
    assert env["GOOGLE_CLOUD_PROJECT"] == env["CLOUDSDK_CORE_PROJECT"] == "my-project-123456"


def test_gcp_workload_identity_external_account_file(tmp_path: Path) -> None:
    config, _ = cleaned("gcp", "workload_identity")
    out = get_provider("gcp").materialize("workload_identity", config, {"oidc_token": "header.payload.sig"})
    env = out.write(tmp_path)
    data = json.loads(Path(env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
    assert data["type"] == "external_account"
    assert data["audience"].startswith("//iam.googleapis.com/projects/123456789012/")
    assert Path(data["credential_source"]["file"]).read_text() == "header.payload.sig"


def test_azure_federated_oidc() -> None:
    config, _ = cleaned("azure", "federated")
    env = get_provider("azure").materialize("federated", config, {"oidc_token": "jwt"}).env
    assert env["ARM_USE_OIDC"] == "true" and env["ARM_OIDC_TOKEN"] == "jwt"
    assert "ARM_CLIENT_SECRET" not in env


def test_git_env_values() -> None:
    env = materialized("gitlab", "pat").env
    assert env["GITLAB_BASE_URL"] == "https://gitlab.example.com/api/v4/"
    assert env["CI_SERVER_URL"] == "https://gitlab.example.com"
    env = materialized("github", "pat").env
    assert env["GITHUB_API_URL"] == "https://ghe.example.com/api/v3"
    assert env["GITHUB_OWNER"] == "platform"
    assert env["GITHUB_TOKEN"] == env["GH_TOKEN"]


def test_dockerhub_config_file(tmp_path: Path) -> None:
    out = materialized("dockerhub", "pat")
    env = out.write(tmp_path)
    assert env["DOCKER_CONFIG"] == str(tmp_path / "docker")
    assert stat.S_IMODE((tmp_path / "docker").stat().st_mode) == 0o700
    data = json.loads((tmp_path / "docker" / "config.json").read_text())
    auth = data["auths"]["https://index.docker.io/v1/"]["auth"]
    assert base64.b64decode(auth).decode() == "acmecorp:dckr_pat_AbCdEfGhIjKlMnOpQrStUvWxYz0"
    assert auth in out.sensitive


def test_ecr_region_override_and_registry() -> None:
    out = materialize_example("ecr", "cloud_connection")
    assert out.env["AWS_REGION"] == "eu-west-1"
    assert out.env["ECR_REGISTRY"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert out.env["AWS_ACCESS_KEY_ID"] == "AKIAIOSFODNN7EXAMPLE"  # from the referenced AWS connection
    # Without a region of its own, ECR follows the referenced connection.
    ref_config, ref_secrets = cleaned("aws", "access_key")
    ref = get_provider("aws").materialize("access_key", {**ref_config, "region": "ap-southeast-5"}, ref_secrets)
    out = get_provider("ecr").materialize(
        "cloud_connection",
        {"cloud_connection": "aws-production"},
        {},
        ref=ref,
        ref_config={**ref_config, "region": "ap-southeast-5"},
    )
    assert out.env["AWS_REGION"] == "ap-southeast-5"
    assert out.env["ECR_REGISTRY"] == "123456789012.dkr.ecr.ap-southeast-5.amazonaws.com"


def test_ref_is_required_for_cloud_connection_providers() -> None:
    for code in REF_OF:
        config, secrets = cleaned(code, "cloud_connection")
        provider = get_provider(code)
        assert provider.ref_field("cloud_connection").ref_providers == (REF_OF[code][0],)
        with pytest.raises(MaterializeError):
            provider.materialize("cloud_connection", config, secrets)


def test_state_backend_config() -> None:
    config, _ = cleaned("s3_backend", "cloud_connection")
    assert get_provider("s3_backend").backend_config(config, state_name="production/network") == {
        "bucket": "acme-terraform-state",
        "region": "eu-west-1",
        "key": "platform/production/network/terraform.tfstate",
        "encrypt": "true",
        "dynamodb_table": "terraform-locks",
    }
    config, _ = cleaned("gcs_backend", "cloud_connection")
    assert get_provider("gcs_backend").backend_config(config) == {
        "bucket": "acme-terraform-state",
        "prefix": "platform",
    }
    with pytest.raises(ValueError, match="Invalid state path"):
        get_provider("gcs_backend").backend_config(config, state_name="../escape")
    env = materialize_example("s3_backend", "cloud_connection").env
    assert (env["TF_BACKEND_BUCKET"], env["TF_BACKEND_REGION"], env["TF_BACKEND_KEY_PREFIX"]) == (
        "acme-terraform-state",
        "eu-west-1",
        "platform",
    )


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


def test_on_prem_env_values() -> None:
    env = materialized("proxmox", "api_token").env
    assert env["PROXMOX_VE_API_TOKEN"] == "terraform@pve!runner=d6f3c2a1-5b4e-4c3d-8a9b-0c1d2e3f4a5b"
    assert env["PROXMOX_VE_ENDPOINT"] == "https://192.168.50.10:8006"
    env = materialized("vcenter", "password").env
    assert env["VSPHERE_SERVER"] == "192.168.60.5"
    assert env["VSPHERE_ALLOW_UNVERIFIED_SSL"] == "false"
    config, secrets = cleaned("vcenter", "password")
    env = get_provider("vcenter").materialize("password", {**config, "port": 8443}, secrets).env
    assert env["VSPHERE_SERVER"] == "192.168.60.5:8443"


# -- Materialized ----------------------------------------------------------------------------------


def test_materialized_placeholders_and_write(tmp_path: Path) -> None:
    out = Materialized()
    out.set_env("A", out.add_file("a.txt", "alpha"))
    out.add_file("sub/dir/b.json", b"{}")
    out.set_env("SUB", "{dir:sub/dir}")
    out.set_env("OTHER", "{file:not-ours}")
    resolved = out.resolve(tmp_path)
    assert resolved == {"A": str(tmp_path / "a.txt"), "SUB": str(tmp_path / "sub" / "dir"), "OTHER": "{file:not-ours}"}
    assert out.write(tmp_path) == resolved
    assert (tmp_path / "a.txt").read_text() == "alpha"
    assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o700
    with pytest.raises(FileExistsError):  # never overwrite or follow what is already there
        out.write(tmp_path)


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/../b", "", "a//b", "./a"])
def test_materialized_rejects_unsafe_file_names(name: str) -> None:
    with pytest.raises(MaterializeError):
        Materialized().add_file(name, b"x")


def test_materialized_merge_clash() -> None:
    first, second = Materialized(), Materialized()
    first.add_file("x", "1")
    second.add_file("x", "2")
    with pytest.raises(MaterializeError):
        first.merged(second)


# -- validators ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("validator", "good", "expected"),
    [
        (v.aws_account_id, "0123-4567-8901", "012345678901"),
        (v.aws_region, "US-GOV-WEST-1", "us-gov-west-1"),
        (v.aws_region, "cn-northwest-1", "cn-northwest-1"),
        (v.aws_region, "mx-central-1", "mx-central-1"),
        (v.aws_role_arn, "arn:aws-cn:iam::123456789012:role/ci/Role", "arn:aws-cn:iam::123456789012:role/ci/Role"),
        (v.guid, "{72F988BF-86F1-41AF-91AB-2D7CD011DB47}", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        (v.gcp_workload_identity_provider,
         "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/prov1",
         "projects/1/locations/global/workloadIdentityPools/pool/providers/prov1"),
        (v.cidr, "10.1.2.3/16", "10.1.0.0/16"),
        (v.cidr, "172.20.0.0/16", "172.20.0.0/16"),
        (v.ipv4_cidr, "8.8.8.0/24", "8.8.8.0/24"),
        (v.public_ipv4, "81.2.69.142", "81.2.69.142"),
        (v.hostname_or_ip, "VCenter.Corp.Example", "vcenter.corp.example"),
        (v.hostname_or_ip, "fe80::1", "fe80::1"),
        (v.port, "8443", 8443),
        (v.s3_bucket, "my.state-bucket", "my.state-bucket"),
        (v.gcs_bucket, "my_state.bucket", "my_state.bucket"),
        (v.key_prefix, "env/prod/", "env/prod"),
        (v.github_token, "github_pat_" + "A" * 82, "github_pat_" + "A" * 82),
        (v.github_token, "0123456789abcdef0123456789abcdef01234567", "0123456789abcdef0123456789abcdef01234567"),
        (v.gitlab_token, "glpat-abcdefghijklmnopqrst", "glpat-abcdefghijklmnopqrst"),
        (v.https_url, "HTTPS://Example.com:8443/api", "https://Example.com:8443/api"),
    ],
)  # fmt: skip
def test_validators_accept_and_normalize(validator: Any, good: Any, expected: Any) -> None:
    assert validator(good) == expected


@pytest.mark.parametrize(
    ("validator", "bad"),
    [
        (v.public_ipv4, "10.0.0.1"), (v.public_ipv4, "172.16.5.4"), (v.public_ipv4, "169.254.1.1"),
        (v.public_ipv4, "224.0.0.1"), (v.public_ipv4, "240.0.0.1"), (v.public_ipv4, "0.0.0.0"),
        (v.public_ipv4, "100.100.1.1"), (v.cidr, "fd00::/8"), (v.cidr, "100.64.0.0/10"),
        (v.https_url, "https://example.com/#frag"), (v.https_url, "https://"), (v.https_url, "https://h:99999"),
        (v.hostname_or_ip, "999.1.1.1"), (v.hostname_or_ip, "-bad-.example"), (v.port, 0), (v.port, True),
        (v.s3_bucket, "ab"), (v.s3_bucket, "my..bucket"), (v.s3_bucket, "xn--bucket"), (v.s3_bucket, "b-s3alias"),
        (v.gcs_bucket, "g00gle-bucket"), (v.gcs_bucket, "a" * 64), (v.dockerhub_namespace, "abc"),
        (v.aws_secret_access_key, "x" * 41), (v.token_min_length(8), "Bearer abcdefghij"),
        (v.pem_certificate, base64.b64encode(b"not a cert").decode()), (v.gcp_project_id, "a" * 31),
    ],
)  # fmt: skip
def test_validators_reject(validator: Any, bad: Any) -> None:
    with pytest.raises(FieldError):
        validator(bad)


def test_pem_certificate_accepts_base64_and_bundles() -> None:
    pem = ca_certificate_pem()
    assert v.pem_certificate(base64.b64encode(pem.encode()).decode()) == pem
    assert v.pem_certificate(pem + client_certificate_pem()) == pem + client_certificate_pem()


def test_pem_private_key_rejects_encrypted_keys() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    with pytest.raises(FieldError, match="Encrypted"):
        v.pem_private_key(key.decode())


def test_aws_region_list_is_complete_enough() -> None:
    for region in (
        "us-east-1",
        "ap-southeast-5",
        "mx-central-1",
        "ca-west-1",
        "il-central-1",
        "us-gov-east-1",
        "cn-north-1",
    ):
        assert region in v.AWS_REGIONS


def test_a_validator_quoting_a_secret_is_masked() -> None:
    from connections.providers.base import AuthMethod, Field, Provider

    def careless(value: str) -> str:
        raise FieldError(f"Bad token {value}")

    class Careless(Provider):
        code = "careless"
        label = "Careless"
        category = "cloud"
        auth_methods = (AuthMethod("api_token", "API token"),)
        fields = (
            Field("name", "Name", "string"),
            Field("token", "Token", "string", secret=True, validators=(careless,)),
        )
        summary_fields = ("name",)

    with pytest.raises(ProviderValidationError) as excinfo:
        Careless().clean("api_token", {"name": "x"}, {"token": "super-secret-value"})
    assert excinfo.value.errors == {"token": ["Invalid value."]}


def test_role_statuses_of_the_contract_match_the_model_choices() -> None:
    """Providers report statuses as plain strings; the model's choices must offer exactly those."""
    from connections.choices import RoleStatusChoices
    from connections.providers.contract import RoleStatus

    assert [s.value for s in RoleStatus] == list(RoleStatusChoices.values)
