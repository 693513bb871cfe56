"""Connections API: providers, create/update/delete, secrets, rotation, authorizations, selection, RBAC, queries."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from accounts.models import Environment, Membership, Organization
from accounts.policy import Action, clear_role_cache
from accounts.services import do_create_token
from connections import services
from connections.api.serializers import (
    ProviderAuthMethodSerializer,
    ProviderFieldSerializer,
    ProviderSerializer,
)
from connections.models import Connection, ConnectionAuthorization
from connections.providers import REGISTRY, get_provider
from connections.runtime import use_credentials
from connections.secrets import load_secrets
from tests.connections.conftest import REFERENCES, connections_state, create_connection, example
from tests.connections.provider_examples import INVALID_CASES, valid_examples
from tests.permissions import Case, PermissionMatrix

pytestmark = pytest.mark.django_db

BASE = "/api/v1/orgs/acme/connections/"
# 40 characters of an AWS secret access key's alphabet: valid, and easy to find if it ever leaked.
CANARY = "CanaryCanaryCanaryCanaryCanary0123456789"
CANARY_ROTATED = "RotatedRotatedRotatedRotatedRotated01234"


def body(
    provider: str,
    *,
    name: str | None = None,
    auth_method: str | None = None,
    environments: list[str] | None = None,
    config: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A valid create body for `provider` from the shared examples, with overrides."""
    method, ex_config, ex_secrets = example(provider, auth_method)
    return {
        "name": name or f"{provider.replace('_', '-')}-{method.replace('_', '-')}",
        "provider": provider,
        "auth_method": method,
        "description": f"{provider} through the API",
        "config": {**ex_config, **(config or {})},
        "secrets": {**ex_secrets, **(secrets or {})},
        "environments": environments or [],
    }


def create(client: APIClient, payload: dict[str, Any], org: str = "acme") -> dict[str, Any]:
    response = client.post(f"/api/v1/orgs/{org}/connections/", payload, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def create_reference_for(client: APIClient, provider: str) -> None:
    """ECR, GCR and the state backends' examples refer to `aws-production` / `gcp-production`."""
    if provider in REFERENCES:
        ref_name = example(provider)[1]["cloud_connection"]
        if not Connection.objects.filter(org__slug="acme", name=ref_name).exists():
            create(client, body(REFERENCES[provider], name=ref_name))


def strings(value: Any) -> list[str]:
    """Every string (keys and values) in a decoded JSON document, to search without JSON escaping."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [value] if isinstance(value, str) else []


def assert_not_in_response(secret: str, response: Any) -> None:
    assert secret not in response.content.decode()
    if response.content:
        assert not any(secret in text for text in strings(response.json()))


def assert_not_echoed(value: str, response: Any) -> None:
    """A rejected secret is not quoted back. Values shorter than 8 characters are only checked in quotes:
    "short" is also a word of "Too short for a token", which is no leak."""
    texts = strings(response.json())
    for shown in (f"'{value}'", f'"{value}"', repr(value)):
        assert not any(shown in text for text in texts)
    if len(value.strip()) >= 8:
        assert_not_in_response(value, response)


def error_fields(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


@pytest.fixture
def admin(api_as) -> APIClient:
    return api_as("admin")


@pytest.fixture
def aws(admin) -> dict[str, Any]:
    """aws-production (access key, canary secret), authorized for production."""
    return create(
        admin,
        body("aws", name="aws-production", environments=["production"], secrets={"secret_access_key": CANARY}),
    )


# --- Providers ------------------------------------------------------------------------------------


def test_providers_list_is_the_registry(admin):
    response = admin.get("/api/v1/providers/")
    assert response.status_code == 200
    assert response.json() == [provider.as_dict() for provider in REGISTRY.values()]


@pytest.mark.parametrize("code", list(REGISTRY))
def test_provider_detail(admin, code):
    response = admin.get(f"/api/v1/providers/{code}/")
    assert response.status_code == 200
    assert response.json() == REGISTRY[code].as_dict()


def test_unknown_provider_is_404(admin):
    response = admin.get("/api/v1/providers/nope/")
    assert response.status_code == 404
    assert "Unknown provider 'nope'" in response.json()["error"]["message"]


def test_providers_need_authentication(org):
    assert APIClient().get("/api/v1/providers/").status_code in (401, 403)


def test_provider_schema_documents_every_key():
    """The documentation serializers must follow Provider.as_dict(), or the schema would lie."""
    described = get_provider("aws").as_dict()
    assert set(ProviderSerializer().fields) == set(described)
    assert set(ProviderAuthMethodSerializer().fields) == set(described["auth_methods"][0])
    assert set(ProviderFieldSerializer().fields) == set(described["fields"][0])


# --- Create ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "method"), [(p, m) for p, methods in valid_examples().items() for m in methods])
def test_every_provider_and_method_is_created_through_the_api(admin, org, provider, method):
    create_reference_for(admin, provider)
    payload = body(provider, auth_method=method, environments=["development"])
    response = admin.post(BASE, payload, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    spec = get_provider(provider)
    assert data["provider"] == provider and data["auth_method"] == method
    assert data["provider_label"] == spec.label and data["category"] == spec.category
    assert data["environments"] == ["development"]
    given_secrets = {k: v for k, v in payload["secrets"].items() if v}
    assert data["secret_fields"] == sorted(given_secrets)
    assert sorted(data["secret_fingerprints"]) == sorted(given_secrets)
    assert "secrets" not in data and "secrets_envelope" not in data
    for value in given_secrets.values():
        assert_not_in_response(str(value), response)
    for key, value in payload["config"].items():
        assert data["config"][key] == value
    assert data["external_id"] == Connection.objects.get(pk=data["id"]).external_id
    assert bool(data["external_id"]) == spec.external_id_required(method)
    assert response["Location"] == data["url"]
    assert data["url"].endswith(f"/api/v1/orgs/acme/connections/{payload['name']}/")
    assert admin.get(data["url"]).json() == data


@pytest.mark.parametrize(
    ("provider", "method", "field", "bad"),
    INVALID_CASES,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(INVALID_CASES)],
)
def test_every_invalid_case_is_a_400_on_that_field(admin, org, provider, method, field, bad):
    create_reference_for(admin, provider)
    payload = body(provider, auth_method=method)
    is_secret = get_provider(provider).get_field(method, field).secret
    section = "secrets" if is_secret else "config"
    payload[section][field] = copy.deepcopy(bad)
    response = admin.post(BASE, payload, format="json")
    fields = error_fields(response)
    assert f"{section}.{field}" in fields, fields
    assert response.json()["error"]["code"] == "invalid"
    if is_secret and isinstance(bad, str) and bad.strip():
        assert_not_echoed(bad, response)
    assert not Connection.objects.filter(org=org, name=payload["name"]).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"provider": None}, "provider"),
        ({"auth_method": None}, "auth_method"),
        ({"provider": "oracle"}, "provider"),
        ({"auth_method": "password"}, "auth_method"),
        ({"environments": ["production", "qa"]}, "environments"),
        ({"environments": "production"}, "environments"),
        ({"name": "Not_A_Slug"}, "name"),
        ({"name": "ab"}, "name"),
        ({"config": "account_id=1"}, "config"),
        ({"secrets": ["x"]}, "secrets"),
        # A field sent on the wrong side is reported under the side it belongs to, saying so.
        ({"config": {"account_id": "123456789012", "secret_access_key": CANARY}}, "secrets.secret_access_key"),
        ({"secrets": {"account_id": "123456789012"}}, "config.account_id"),
        ({"config": {"account_id": "123456789012", "colour": "red"}}, "config.colour"),
    ],
)
def test_create_input_errors_name_the_field(admin, org, change, field):
    payload = body("aws", name="aws-production")
    for key, value in change.items():
        if value is None:
            payload.pop(key)
        else:
            payload[key] = value
    response = admin.post(BASE, payload, format="json")
    assert field in error_fields(response)
    assert_not_in_response(CANARY, response)
    assert not Connection.objects.filter(org=org).exists()


def test_duplicate_name_is_a_400_on_name(admin, aws):
    response = admin.post(BASE, body("aws", name="aws-production"), format="json")
    assert "already exists" in error_fields(response)["name"][0]


def test_free_plan_allows_one_cloud_provider_type(admin, org):
    org.plan = "free"
    org.save()
    create(admin, body("aws", name="aws-production"))
    create(admin, body("aws", name="aws-staging"))
    response = admin.post(BASE, body("gcp", name="gcp-production"), format="json")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "plan_limit"
    assert "Starter" in error["message"]


def test_proxmox_needs_enterprise(admin, org):
    org.plan = "starter"
    org.save()
    response = admin.post(BASE, body("proxmox"), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "plan_limit"
    assert "Enterprise" in response.json()["error"]["message"]
    assert_not_in_response(body("proxmox")["secrets"]["token"], response)


# --- Update ---------------------------------------------------------------------------------------


def test_patch_updates_public_fields(admin, aws):
    url = aws["url"]
    response = admin.patch(url, {"description": "Prod", "config": {"region": "eu-central-1"}}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["description"] == "Prod"
    assert data["config"]["region"] == "eu-central-1" and data["config"]["account_id"] == "123456789012"
    assert data["secret_fingerprints"] == aws["secret_fingerprints"]
    assert {"label": "Region", "value": "eu-central-1"} in data["summary"]


def test_patch_rename_changes_the_url(admin, aws):
    response = admin.patch(aws["url"], {"name": "aws-prod"}, format="json")
    assert response.status_code == 200
    assert response.json()["url"].endswith("/connections/aws-prod/")
    assert admin.get(aws["url"]).status_code == 404
    assert admin.get(BASE + "aws-prod/").status_code == 200


def test_patch_accepts_the_fetched_body_back(admin, aws):
    fetched = admin.get(aws["url"]).json()
    fetched["description"] = "Round trip"
    response = admin.patch(aws["url"], fetched, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["description"] == "Round trip"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"secrets": {"secret_access_key": CANARY_ROTATED}}, "secrets"),
        ({"secrets": {}}, "secrets"),
        ({"provider": "gcp"}, "provider"),
        ({"auth_method": "assume_role"}, "auth_method"),
        ({"environments": ["staging"]}, "environments"),
        ({"config": {"region": "us-east-7"}}, "config.region"),
        ({"config": {"secret_access_key": CANARY_ROTATED}}, "config.secret_access_key"),
        ({"name": "Bad Name"}, "name"),
    ],
)
def test_patch_errors_name_the_field(admin, aws, change, field):
    response = admin.patch(aws["url"], change, format="json")
    fields = error_fields(response)
    assert field in fields
    if field == "secrets":
        assert "rotate" in fields["secrets"][0]
    assert_not_in_response(CANARY_ROTATED, response)
    assert admin.get(aws["url"]).json() == aws


def test_patch_name_taken(admin, aws):
    create(admin, body("aws", name="aws-staging"))
    response = admin.patch(BASE + "aws-staging/", {"name": "aws-production"}, format="json")
    assert "name" in error_fields(response)


def test_put_on_a_connection_is_not_allowed(admin, aws):
    assert admin.put(aws["url"], body("aws", name="aws-production"), format="json").status_code == 405


def test_reference_is_shown_by_the_current_name(admin, org):
    create_reference_for(admin, "ecr")
    ecr = create(admin, body("ecr", name="ecr-main"))
    assert ecr["config"]["cloud_connection"] == "aws-production"
    assert {"label": "AWS connection", "value": "aws-production"} in ecr["summary"]
    assert admin.patch(BASE + "aws-production/", {"name": "aws-prod"}, format="json").status_code == 200
    shown = admin.get(ecr["url"]).json()
    assert shown["config"]["cloud_connection"] == "aws-prod"
    assert {"label": "AWS connection", "value": "aws-prod"} in shown["summary"]


# --- Secrets never leave --------------------------------------------------------------------------


def test_canary_secret_is_in_no_response(admin, members, org, aws):
    conn = Connection.objects.get(org=org, name="aws-production")
    with use_credentials(conn, actor=members["admin"], environment="production", purpose="test", resource="r1"):
        pass
    with pytest.raises(RuntimeError):
        with use_credentials(conn, actor=members["admin"], environment="production", purpose="test"):
            raise RuntimeError(f"provider said no to {CANARY}")
    url = aws["url"]
    responses = [
        admin.get(BASE),
        admin.get(url),
        admin.get(url + "usage/"),
        admin.get(url + "preview-delete/"),
        admin.get(url + "authorizations/"),
        admin.put(url + "authorizations/", {"environments": ["production", "staging"]}, format="json"),
        admin.post(url + "authorizations/", {"environment": "development"}, format="json"),
        admin.get("/api/v1/orgs/acme/environments/production/selection?provider=aws"),
        admin.patch(url, {"description": "still secret"}, format="json"),
        admin.post(url + "deactivate/"),
        admin.post(url + "activate/"),
    ]
    rotated = admin.post(url + "rotate/", {"secrets": {"secret_access_key": CANARY_ROTATED}}, format="json")
    responses += [rotated, admin.get(url), admin.get(BASE)]
    for response in responses:
        assert response.status_code in (200, 201), response.content
        assert_not_in_response(CANARY, response)
        assert_not_in_response(CANARY_ROTATED, response)
        conn.refresh_from_db()
        assert_not_in_response(conn.secrets_envelope, response)
    usage = responses[2].json()["results"]
    assert [row["outcome"] for row in usage] == ["failure", "success"]
    assert "provider said no" in usage[0]["error"]
    assert admin.get(url).json()["secret_fingerprints"] == conn.secret_fingerprints
    assert set(conn.secret_fingerprints) == {"secret_access_key"}


# --- Rotation -------------------------------------------------------------------------------------


def test_rotate_sets_rotated_at_and_changes_the_fingerprint(admin, org, aws):
    Connection.objects.filter(org=org, name="aws-production").update(
        credentials_rotated_at=timezone.now() - timedelta(days=91)
    )
    stale = admin.get(aws["url"]).json()
    assert stale["rotation_overdue"] is True
    response = admin.post(aws["url"] + "rotate/", {"secrets": {"secret_access_key": CANARY_ROTATED}}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["secret_fingerprints"]["secret_access_key"] != aws["secret_fingerprints"]["secret_access_key"]
    assert data["credentials_rotated_at"] > stale["credentials_rotated_at"]
    assert data["rotation_overdue"] is False
    assert data["rotation_due_at"] > data["credentials_rotated_at"]


def test_rotation_is_due_after_90_days(admin, org, aws):
    assert aws["rotation_overdue"] is False
    Connection.objects.filter(org=org, name="aws-production").update(
        credentials_rotated_at=timezone.now() - timedelta(days=89)
    )
    assert admin.get(aws["url"]).json()["rotation_overdue"] is False
    Connection.objects.filter(org=org, name="aws-production").update(
        credentials_rotated_at=timezone.now() - timedelta(days=91)
    )
    assert admin.get(aws["url"]).json()["rotation_overdue"] is True


def test_rotate_ignores_placeholders(admin, org):
    proxmox = create(admin, body("proxmox", name="pve-lab"))
    new_token = "0f1e2d3c-4b5a-4c6d-8e7f-a0b1c2d3e4f5"
    response = admin.post(
        proxmox["url"] + "rotate/", {"secrets": {"token": new_token, "ssh_password": "***"}}, format="json"
    )
    assert response.status_code == 200, response.content
    after = response.json()["secret_fingerprints"]
    assert after["token"] != proxmox["secret_fingerprints"]["token"]
    assert after["ssh_password"] == proxmox["secret_fingerprints"]["ssh_password"]
    assert_not_in_response(new_token, response)
    stored = load_secrets(Connection.objects.get(org=org, name="pve-lab"))
    assert stored == {"token": new_token, "ssh_password": body("proxmox")["secrets"]["ssh_password"]}


@pytest.mark.parametrize(
    "payload",
    [{"secrets": {"secret_access_key": "***"}}, {"secrets": {"secret_access_key": "[redacted]"}}, {"secrets": {}}],
)
def test_rotate_with_only_placeholders_is_a_400(admin, org, aws, payload):
    response = admin.post(aws["url"] + "rotate/", payload, format="json")
    assert "secrets" in error_fields(response)
    assert admin.get(aws["url"]).json()["secret_fingerprints"] == aws["secret_fingerprints"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "secrets"),
        ({"secrets": "x"}, "secrets"),
        ({"secrets": {"secret_access_key": "short"}}, "secrets.secret_access_key"),
        ({"secrets": {"account_id": "123456789012"}}, "secrets.account_id"),
    ],
)
def test_rotate_input_errors(admin, aws, payload, field):
    assert field in error_fields(admin.post(aws["url"] + "rotate/", payload, format="json"))


def test_rotate_without_stored_secrets_is_a_400(admin, org):
    role = create(admin, body("aws", name="aws-role", auth_method="assume_role"))
    response = admin.post(role["url"] + "rotate/", {"secrets": {"secret_access_key": CANARY}}, format="json")
    assert "secrets" in error_fields(response)


# --- Activate / deactivate ------------------------------------------------------------------------


def test_deactivate_and_activate(admin, aws):
    response = admin.post(aws["url"] + "deactivate/")
    assert response.status_code == 200
    assert response.json()["status"] == "inactive"
    assert response.json()["environments"] == ["production"]
    assert admin.post(aws["url"] + "activate/").json()["status"] == "active"


# --- Authorizations -------------------------------------------------------------------------------


def authorized(response: Any) -> list[str]:
    return [row["environment"] for row in response.json() if row["authorized"]]


def test_authorizations_put_post_delete(admin, members, aws):
    url = aws["url"] + "authorizations/"
    listed = admin.get(url)
    assert listed.status_code == 200
    assert [row["environment"] for row in listed.json()] == ["development", "production", "staging"]
    assert authorized(listed) == ["production"]
    production = next(row for row in listed.json() if row["environment"] == "production")
    assert production["authorized_by"] == members["admin"].email and production["authorized_at"]

    response = admin.put(url, {"environments": ["staging", "development"]}, format="json")
    assert response.status_code == 200, response.content
    assert authorized(response) == ["development", "staging"]

    response = admin.post(url, {"environment": "production"}, format="json")
    assert response.status_code == 201
    assert authorized(response) == ["development", "production", "staging"]
    assert admin.post(url, {"environment": "production"}, format="json").status_code == 200

    assert admin.delete(url + "staging/").status_code == 204
    assert admin.delete(url + "staging/").status_code == 204  # already revoked: same outcome
    assert authorized(admin.get(url)) == ["development", "production"]
    assert admin.get(aws["url"]).json()["environments"] == ["development", "production"]

    response = admin.put(url, {"environments": []}, format="json")
    assert authorized(response) == []


def test_several_connections_of_a_provider_per_environment_and_the_default(admin, aws, django_assert_max_num_queries):
    other = create(admin, body("aws", name="aws-other"))
    url = other["url"] + "authorizations/"
    response = admin.post(url, {"environment": "production"}, format="json")
    assert response.status_code == 201
    row = next(r for r in response.json() if r["environment"] == "production")
    assert (row["authorized"], row["is_default"], row["default_connection"]) == (True, False, "aws-production")
    third = create(admin, body("aws", name="aws-third", environments=["production"]))
    assert selection(admin, "provider=aws").json()["connection"]["name"] == "aws-production"

    with django_assert_max_num_queries(20):
        response = admin.post(url + "production/default/")
    assert response.status_code == 200
    row = next(r for r in response.json() if r["environment"] == "production")
    assert (row["is_default"], row["default_connection"]) == (True, "aws-other")
    assert selection(admin, "provider=aws").json()["connection"]["name"] == "aws-other"
    named = selection(admin, "provider=aws&connection=aws-third").json()
    assert named["connection"]["name"] == "aws-third"
    # Not authorized there: a field error, nothing changes.
    response = admin.post(third["url"] + "authorizations/staging/default/")
    assert error_fields(response)["environment"] == [
        "'aws-third' is not authorized for environment 'staging'; authorize it first."
    ]
    assert admin.post(third["url"] + "authorizations/qa/default/").status_code == 404


def test_set_default_is_refused_to_users_and_other_orgs(api_as, admin, aws, other_org, make_connection):
    other = create(admin, body("aws", name="aws-other", environments=["production"]))
    assert api_as("user").post(other["url"] + "authorizations/production/default/").status_code == 403
    make_connection(other_org, "aws", name="globex-aws", environments=("production",))
    response = admin.post("/api/v1/orgs/globex/connections/globex-aws/authorizations/production/default/")
    assert response.status_code == 404
    assert ConnectionAuthorization.objects.get(connection__name="aws-production").is_default


def test_authorization_input_errors(admin, aws):
    url = aws["url"] + "authorizations/"
    assert "environment" in error_fields(admin.post(url, {"environment": "qa"}, format="json"))
    assert "environment" in error_fields(admin.post(url, {}, format="json"))
    assert "environments" in error_fields(admin.put(url, {"environments": ["qa"]}, format="json"))
    assert "environments" in error_fields(admin.put(url, {}, format="json"))
    assert admin.delete(url + "qa/").status_code == 404
    assert authorized(admin.get(url)) == ["production"]


# --- Selection ------------------------------------------------------------------------------------


def selection(client: APIClient, query: str, env: str = "production") -> Any:
    return client.get(f"/api/v1/orgs/acme/environments/{env}/selection?{query}")


def test_selection_explains_the_choice(api_as, aws):
    response = selection(api_as("viewer"), "provider=aws")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "environment": "production",
        "provider": "aws",
        "resource_type": None,
        "connection": {"name": "aws-production", "provider": "aws", "status": "active", "url": aws["url"]},
        "role": None,
        "reason": "'aws-production' is the aws connection authorized for environment 'production'.",
    }
    named = selection(api_as("viewer"), "provider=aws&connection=aws-production").json()
    assert named["reason"] == "'aws-production' was requested and is authorized for 'production'."
    trailing = api_as("viewer").get("/api/v1/orgs/acme/environments/production/selection/?provider=aws")
    assert trailing.json() == response.json()


@pytest.mark.parametrize("resource_type", ["aws_db_instance", "AWS RDS", "aws rds", "aws_caller_identity"])
def test_selection_by_resource_type_says_which_provider(api_as, aws, resource_type):
    response = selection(api_as("viewer"), f"resource_type={resource_type}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["provider"] == "aws" and body["resource_type"] == resource_type
    assert body["connection"]["name"] == "aws-production"
    assert body["reason"].startswith(f"{resource_type!r} is deployed with aws credentials. ")


def test_selection_by_resource_type_keeps_the_documented_errors(admin, org):
    response = selection(admin, "resource_type=google_container_cluster")
    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "No connection available for provider 'gcp' in environment 'production'"
    )


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("resource_type=foo_bucket", "resource_type", "No provider deploys resource type 'foo_bucket'."),
        ("resource_type=aws_", "resource_type", "No provider deploys resource type 'aws_'."),
        ("provider=aws&resource_type=aws_s3_bucket", "provider", "exactly one of them"),
        ("", "provider", "exactly one of them"),
    ],
)
def test_selection_query_errors_are_field_level(admin, org, query, field, message):
    response = selection(admin, query)
    assert response.status_code == 400
    assert message in str(response.json()["error"]["fields"][field])


def test_selection_errors_word_for_word(admin, org):
    response = selection(admin, "provider=aws")
    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "status": 422,
            "code": "no_connection_available",
            "message": "No connection available for provider 'aws' in environment 'production'",
        }
    }
    create(admin, body("aws", name="aws-staging", environments=["staging"]))
    response = selection(admin, "provider=aws")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "connection_not_authorized"
    assert (
        response.json()["error"]["message"] == "Connection 'aws-staging' is not authorized for environment 'production'"
    )
    response = selection(admin, "provider=aws&connection=aws-staging")
    assert response.status_code == 422
    assert (
        response.json()["error"]["message"] == "Connection 'aws-staging' is not authorized for environment 'production'"
    )
    response = selection(admin, "provider=aws&connection=nope")
    assert response.status_code == 422
    assert (
        response.json()["error"]["message"] == "No connection available for provider 'aws' in environment 'production'"
    )


def test_deactivated_connection_is_not_selected(admin, aws):
    assert admin.post(aws["url"] + "deactivate/").status_code == 200
    response = selection(admin, "provider=aws")
    assert response.status_code == 422
    assert (
        response.json()["error"]["message"] == "No connection available for provider 'aws' in environment 'production'"
    )
    assert admin.post(aws["url"] + "activate/").status_code == 200
    assert selection(admin, "provider=aws").json()["connection"]["name"] == "aws-production"


def test_selection_input_errors(admin, aws):
    assert "provider" in error_fields(selection(admin, ""))
    fields = error_fields(selection(admin, "provider=oracle"))
    assert "Unknown provider 'oracle'" in fields["provider"][0]
    assert selection(admin, "provider=aws", env="qa").status_code == 404


# --- Delete ---------------------------------------------------------------------------------------


def test_delete_is_blocked_while_referenced(admin, org):
    create_reference_for(admin, "ecr")
    ecr = create(admin, body("ecr", name="ecr-main"))
    aws_url = BASE + "aws-production/"
    preview = admin.get(aws_url + "preview-delete/")
    assert preview.status_code == 200
    assert preview.json()["can_delete"] is False
    assert preview.json()["blocking"]["connections"]["items"] == ["ecr-main"]

    response = admin.delete(aws_url)
    assert response.status_code == 400
    assert "ecr-main" in response.json()["error"]["message"]
    assert Connection.objects.filter(org=org, name="aws-production").exists()

    assert admin.get(ecr["url"] + "preview-delete/").json()["can_delete"] is True
    assert admin.delete(ecr["url"]).status_code == 204
    assert admin.get(aws_url + "preview-delete/").json()["can_delete"] is True
    assert admin.delete(aws_url).status_code == 204
    assert admin.get(aws_url).status_code == 404
    assert not Connection.objects.filter(org=org).exists()


def test_preview_lists_what_goes_with_it(admin, aws):
    preview = admin.get(aws["url"] + "preview-delete/").json()
    assert preview["connection"] == "aws-production"
    assert preview["will_delete"]["authorizations"] == {
        "label": "Environment authorizations",
        "count": 1,
        "items": ["production"],
    }


# --- Usage ----------------------------------------------------------------------------------------


def test_usage_is_paginated_newest_first(api_as, members, org, aws):
    conn = Connection.objects.get(org=org, name="aws-production")
    for i in range(3):
        with use_credentials(conn, actor=members["user"], environment="production", purpose=f"run {i}", resource="x"):
            pass
    response = api_as("viewer").get(aws["url"] + "usage/?page_size=2")
    assert response.status_code == 200
    data = response.json()
    assert len(data["results"]) == 2 and data["next"] and data["previous"] is None
    assert [row["purpose"] for row in api_as("viewer").get(data["next"]).json()["results"]] == ["run 0"]
    assert [row["purpose"] for row in data["results"]] == ["run 2", "run 1"]
    assert data["results"][0]["actor"] == members["user"].email
    assert data["results"][0]["environment"] == "production"
    assert data["results"][0]["outcome"] == "success"


# --- RBAC and tenant isolation --------------------------------------------------------------------

CONNECTION = "/api/v1/orgs/{org}/connections/{conn}/"


class TestRoleTable(PermissionMatrix):
    """Every connection endpoint and the selection: every role, another organization's connection
    (404, also under our own organization's URL), an outsider (404), anonymous; a refused request
    changes nothing. {conn} is aws-<org>, authorized for production."""

    cases = [
        Case.api("get", "/api/v1/orgs/{org}/connections/", Action.VIEW),
        Case.api("get", CONNECTION, Action.VIEW),
        Case.api("get", CONNECTION + "authorizations/", Action.VIEW),
        Case.api("get", CONNECTION + "preview-delete/", Action.VIEW),
        Case.api("get", CONNECTION + "usage/", Action.VIEW),
        Case.api("get", "/api/v1/orgs/{org}/environments/production/selection?provider=aws", Action.VIEW),
        Case.api("post", "/api/v1/orgs/{org}/connections/", Action.MANAGE_CONNECTIONS,
                 body=body("github", name="github-new")),
        Case.api("patch", CONNECTION, Action.MANAGE_CONNECTIONS, body={"description": "changed"}),
        Case.api("delete", CONNECTION, Action.MANAGE_CONNECTIONS),
        Case.api("post", CONNECTION + "rotate/", Action.MANAGE_CONNECTIONS, ok=200,
                 body={"secrets": {"secret_access_key": CANARY_ROTATED}}),
        Case.api("post", CONNECTION + "activate/", Action.MANAGE_CONNECTIONS, ok=200),
        Case.api("post", CONNECTION + "deactivate/", Action.MANAGE_CONNECTIONS, ok=200),
        Case.api("put", CONNECTION + "authorizations/", Action.MANAGE_CONNECTIONS, body={"environments": ["staging"]}),
        Case.api("post", CONNECTION + "authorizations/", Action.MANAGE_CONNECTIONS, body={"environment": "staging"}),
        Case.api("delete", CONNECTION + "authorizations/production/", Action.MANAGE_CONNECTIONS),
        Case.api("post", "/api/v1/orgs/{org}/connections/{second}/authorizations/production/default/",
                 Action.MANAGE_CONNECTIONS, ok=200),
    ]  # fmt: skip

    def objects(self, org: Organization) -> dict[str, Any]:
        name = f"aws-{org.slug}"
        create_connection(org, "aws", name=name, environments=("production",), secrets={"secret_access_key": CANARY})
        second = f"aws-{org.slug}-workloads"  # also authorized for production, not its default
        create_connection(org, "aws", name=second, environments=("production",))
        return {"conn": name, "second": second}

    def snapshot(self, org: Organization) -> list[tuple]:
        return connections_state(org)


def test_a_capped_token_acts_with_its_cap(members, org, aws):
    def token_client(role_cap: str) -> APIClient:
        _, value = do_create_token(org, actor=members["admin"], name=f"ci-{role_cap or 'full'}", role_cap=role_cap)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
        return client

    capped = token_client("viewer")
    assert capped.get(aws["url"]).status_code == 200
    assert capped.patch(aws["url"], {"description": "capped"}, format="json").status_code == 403
    assert capped.post(aws["url"] + "rotate/", {"secrets": {"secret_access_key": CANARY_ROTATED}}).status_code == 403
    assert token_client("").patch(aws["url"], {"description": "full"}, format="json").status_code == 200


def test_anonymous_gets_nothing(org, aws):
    response = APIClient().get(BASE)
    assert response.status_code in (401, 403)
    assert_not_in_response("aws-production", response)


def test_list_shows_only_this_orgs_connections(admin, other_org, make_connection, aws):
    make_connection(other_org, "aws", name="globex-aws")
    assert [c["name"] for c in admin.get(BASE).json()["results"]] == ["aws-production"]


def test_a_per_object_grant_allows_writes_on_that_connection_only(api_as, members, org, aws):
    create(api_as("admin"), body("aws", name="aws-staging"))
    assign_perm("connections.change_connection", members["viewer"], Connection.objects.get(name="aws-production"))
    viewer = api_as("viewer")
    assert viewer.patch(aws["url"], {"description": "granted"}, format="json").status_code == 200
    assert viewer.patch(BASE + "aws-staging/", {"description": "not granted"}, format="json").status_code == 403
    assert viewer.post(BASE, body("github"), format="json").status_code == 403


def test_a_member_of_both_orgs_sees_each_orgs_own(api_as, members, other_org, make_connection, aws):
    Membership.objects.create(user=members["viewer"], org=other_org, role="viewer")
    make_connection(other_org, "aws", name="aws-production")
    viewer = api_as("viewer")
    ours = viewer.get(BASE + "aws-production/").json()
    theirs = viewer.get("/api/v1/orgs/globex/connections/aws-production/").json()
    assert ours["id"] != theirs["id"]
    assert theirs["url"].endswith("/orgs/globex/connections/aws-production/")


# --- Filters and ordering -------------------------------------------------------------------------


@pytest.fixture
def several(admin, org) -> None:
    create(admin, body("aws", name="aws-production", environments=["production"]))
    create(admin, body("gcp", name="gcp-staging", environments=["staging"]))
    create(admin, body("github", name="github-acme", environments=["production", "staging"]))
    create(admin, body("dockerhub", name="docker-hub"))
    assert admin.post(BASE + "docker-hub/deactivate/").status_code == 200
    Connection.objects.filter(name="gcp-staging").update(health_status="healthy")


def names(client: APIClient, query: str) -> list[str]:
    response = client.get(BASE + "?" + query)
    assert response.status_code == 200, response.content
    return [c["name"] for c in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["aws-production", "docker-hub", "gcp-staging", "github-acme"]),
        ("q=PROD", ["aws-production"]),
        ("q=-", ["aws-production", "docker-hub", "gcp-staging", "github-acme"]),
        ("provider=gcp", ["gcp-staging"]),
        ("provider=aws&provider=github", ["aws-production", "github-acme"]),
        ("category=cloud", ["aws-production", "gcp-staging"]),
        ("category=registry", ["docker-hub"]),
        ("status=inactive", ["docker-hub"]),
        ("status=active", ["aws-production", "gcp-staging", "github-acme"]),
        ("environment=production", ["aws-production", "github-acme"]),
        ("environment=staging&category=cloud", ["gcp-staging"]),
        ("environment=development", []),
        ("health_status=healthy", ["gcp-staging"]),
    ],
)
def test_list_filters(api_as, several, query, expected):
    assert names(api_as("viewer"), query) == expected


@pytest.mark.parametrize("query", ["provider=oracle", "category=cloudy", "status=broken", "health_status=meh"])
def test_unknown_filter_values_are_a_400(admin, several, query):
    assert query.split("=")[0] in error_fields(admin.get(BASE + "?" + query))


def test_list_ordering(admin, org, several):
    assert names(admin, "ordering=-name") == ["github-acme", "gcp-staging", "docker-hub", "aws-production"]
    assert names(admin, "ordering=provider") == ["aws-production", "docker-hub", "gcp-staging", "github-acme"]
    assert names(admin, "ordering=-provider") == ["github-acme", "gcp-staging", "docker-hub", "aws-production"]
    now = timezone.now()
    ages = {"github-acme": 4, "aws-production": 3, "gcp-staging": 2, "docker-hub": 1}
    for name, days in ages.items():
        Connection.objects.filter(name=name).update(created_at=now - timedelta(days=days))
    assert names(admin, "ordering=created_at") == ["github-acme", "aws-production", "gcp-staging", "docker-hub"]
    assert names(admin, "ordering=-created_at") == ["docker-hub", "gcp-staging", "aws-production", "github-acme"]
    Connection.objects.filter(name="gcp-staging").update(last_used_at=now)
    Connection.objects.filter(name="github-acme").update(last_used_at=now - timedelta(hours=1))
    # Never-used connections come last in both directions (SQLite and PostgreSQL alike), then by name.
    assert names(admin, "ordering=last_used_at") == ["github-acme", "gcp-staging", "aws-production", "docker-hub"]
    assert names(admin, "ordering=-last_used_at") == ["gcp-staging", "github-acme", "aws-production", "docker-hub"]
    assert names(admin, "ordering=unknown") == names(admin, "")


# --- Query counts ---------------------------------------------------------------------------------


def bulk_connections(org, user, count: int) -> None:
    """Up to `count` connections in `org`: one AWS with a real encrypted secret (authorized everywhere),
    ECR rows referring to it, GitHub rows with fingerprints, a few of them authorized; all with an author."""
    aws = Connection.objects.filter(org=org, name="aws-production").first() or services.do_create_connection(
        org,
        actor=user,
        name="aws-production",
        provider="aws",
        auth_method="access_key",
        config=example("aws")[1],
        secrets={"secret_access_key": CANARY},
        environments=[env.slug for env in Environment.objects.filter(org=org)],
    )
    rows = []
    for i in range(Connection.objects.filter(org=org).count(), count):
        if i % 3 == 0:
            rows.append(
                Connection(
                    org=org,
                    name=f"ecr-{i:04}",
                    provider="ecr",
                    category="registry",
                    auth_method="cloud_connection",
                    config={"cloud_connection": "aws-production", "region": "eu-west-1"},
                    cloud_connection=aws,
                    created_by=user,
                    updated_by=user,
                )
            )
        else:
            rows.append(
                Connection(
                    org=org,
                    name=f"github-{i:04}",
                    provider="github",
                    category="git",
                    auth_method="oauth",
                    config={"organization": "acme-corp"},
                    secret_fingerprints={"token": f"{i:012x}"},
                    created_by=user,
                    updated_by=user,
                )
            )
    Connection.objects.bulk_create(rows)
    if not ConnectionAuthorization.objects.filter(org=org, provider="github").exists():
        envs = list(Environment.objects.filter(org=org).order_by("slug"))
        github = list(Connection.objects.filter(org=org, provider="github").order_by("name")[: len(envs)])
        ConnectionAuthorization.objects.bulk_create(
            ConnectionAuthorization(connection=conn, environment=env, org=org, provider="github")
            for conn, env in zip(github, envs, strict=False)
        )


# The org, the role, django-guardian's two permission lookups in .restrict(), the page, and the
# authorizations with their environments (no count: keyset pagination).
LIST_QUERIES = 6


@pytest.mark.parametrize("count", [10, 300])
def test_list_queries_do_not_grow_with_rows(api_as, members, org, django_assert_max_num_queries, count):
    bulk_connections(org, members["admin"], count)
    client = api_as("viewer")
    with django_assert_max_num_queries(LIST_QUERIES):
        response = client.get(BASE + "?page_size=500")
    assert response.status_code == 200
    data = response.json()
    assert len(data["results"]) == count and data["next"] is None
    by_name = {c["name"]: c for c in data["results"]}
    assert by_name["aws-production"]["environments"] == ["development", "production", "staging"]
    assert by_name["ecr-0003"]["config"]["cloud_connection"] == "aws-production"
    assert by_name["github-0001"]["created_by"] == members["admin"].email
    assert sum(bool(c["environments"]) for c in data["results"]) == 4
    assert_not_in_response(CANARY, response)


def test_list_query_count_is_identical_for_10_and_300(api_as, members, org):
    """Stricter than the ceiling above: adding 290 rows adds no query at all."""
    client = api_as("viewer")
    counts = []
    for total in (10, 300):
        bulk_connections(org, members["admin"], total)
        clear_role_cache(members["viewer"])  # the role is cached on the user object between requests
        with CaptureQueriesContext(db_connection) as queries:
            assert len(client.get(BASE + "?page_size=500&ordering=-last_used_at").json()["results"]) == total
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_trust_policy_endpoint(api_as, org, members, make_connection, settings):
    settings.PLATFORM_AWS_ACCOUNT_ID = "111122223333"
    conn = make_connection(org, "aws", name="aws-assume", auth_method="assume_role")
    body = api_as("viewer").get("/api/v1/orgs/acme/connections/aws-assume/trust-policy/").json()
    assert body["external_id"] == conn.external_id and body["platform_account_id"] == "111122223333"
    statement = body["policy"]["Statement"][0]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"] == conn.external_id
    make_connection(org, "github", name="gh-no-external")
    assert api_as("viewer").get("/api/v1/orgs/acme/connections/gh-no-external/trust-policy/").status_code == 404
