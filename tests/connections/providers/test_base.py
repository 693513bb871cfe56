"""What every provider gets from the base classes (connections/providers/base.py): cleaning (defaults,
normalization, field errors on exactly the bad field, never echoing a secret), materialization (the documented
environment, files, the referenced connection) and `Materialized` itself.
Pure Python: no database, no network.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from connections.providers import Materialized, MaterializeError, ProviderValidationError, get_provider
from connections.providers.base import AuthMethod, Field, FieldError, Provider
from tests.connections.provider_examples import INVALID_CASES, valid_examples
from tests.connections.providers.conftest import ALL_METHODS, REF_OF, VALID, cleaned, errors_of, materialize_example

# -- valid examples --------------------------------------------------------------------------------


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


def test_ref_is_required_for_cloud_connection_providers() -> None:
    for code in REF_OF:
        config, secrets = cleaned(code, "cloud_connection")
        provider = get_provider(code)
        assert provider.ref_field("cloud_connection").ref_providers == (REF_OF[code][0],)
        with pytest.raises(MaterializeError):
            provider.materialize("cloud_connection", config, secrets)


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


# -- a validator quoting its input -----------------------------------------------------------------


def test_a_validator_quoting_a_secret_is_masked() -> None:
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
