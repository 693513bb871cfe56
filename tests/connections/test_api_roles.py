"""The connection-roles API (connections/api/roles.py): create, validate (eager and queued), get, list,
delete, field errors, the role table and tenant isolation, the schema."""

from __future__ import annotations

from typing import Any

import pytest
from celery.result import AsyncResult
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import Organization
from accounts.policy import Action
from connections.models import Connection, ConnectionRole
from connections.tasks import validate_role_task
from tests.connections.conftest import (
    add_aws_role,
    allow,
    connections_state,
    create_aws_role_connection,
    create_iam_role,
    trust_policy,
)
from tests.fakes.moto_server import MOTO_ACCOUNT_ID, moto, moto_server  # noqa: F401
from tests.permissions import Case, PermissionMatrix

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("platform_in_moto_account", "no_detected_permissions", "eager_role_validation"),
]



BASE = "/api/v1/orgs/acme/connections"


def roles_url(connection: Connection, *rest: Any) -> str:
    suffix = "".join(f"{part}/" for part in rest)
    return f"{BASE}/{connection.name}/roles/{suffix}"


def test_api_create_validate_get_list_delete(api_as, aws_connection, members, iam) -> None:
    arn = create_iam_role(iam, "tf-api", trust_policy(aws_connection.external_id), managed={"s3": allow("s3:*")})
    client: APIClient = api_as("provisioner")
    created = client.post(
        roles_url(aws_connection), {"role_arn": arn, "session_duration": 1800, "name": "storage"}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["status"], body["role_arn"], body["session_duration"], body["name"]) == (
        "pending",
        arn,
        1800,
        "storage",
    )
    assert body["connection"] == aws_connection.name and body["provider"] == "aws"
    assert created["Location"] == body["url"]
    assert body["url"].endswith(roles_url(aws_connection, body["id"]))

    validated = client.post(roles_url(aws_connection, body["id"], "validate"))
    assert validated.status_code == 200, validated.content
    assert validated.json()["status"] == "valid"
    assert validated.json()["granted_permissions"] == ["s3:*"]

    viewer = api_as("viewer")
    assert viewer.get(roles_url(aws_connection, body["id"])).json()["status"] == "valid"
    listing = viewer.get(roles_url(aws_connection))
    assert listing.status_code == 200
    rows = listing.json()["results"] if isinstance(listing.json(), dict) else listing.json()
    assert [r["id"] for r in rows] == [body["id"]]

    assert client.delete(roles_url(aws_connection, body["id"])).status_code == 204
    assert viewer.get(roles_url(aws_connection, body["id"])).status_code == 404


def test_api_session_duration_out_of_range_is_400(api_as, aws_connection) -> None:
    arn = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Tf"
    for seconds in (899, 43201):
        response = api_as("admin").post(roles_url(aws_connection), {"role_arn": arn, "session_duration": seconds})
        assert response.status_code == 400
        assert "session_duration" in response.json()["error"]["fields"]
    response = api_as("admin").post(roles_url(aws_connection), {"role_arn": "arn:aws:iam::999999999999:role/Tf"})
    assert response.status_code == 400
    assert "role_arn" in response.json()["error"]["fields"]
    assert not ConnectionRole.objects.exists()


def test_api_non_cloud_connection_is_400(api_as, org, members, make_connection) -> None:
    github = make_connection(org, "github")
    response = api_as("admin").post(roles_url(github), {"role_arn": f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Tf"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Connection roles are for Amazon Web Services and Microsoft Azure connections."
    )


def test_api_invalid_body_from_viewer_is_still_403(api_as, aws_connection) -> None:
    assert api_as("viewer").post(roles_url(aws_connection), {"session_duration": 5}).status_code == 403


def test_api_queued_validation_answers_202(api_as, aws_connection, members, monkeypatch) -> None:
    role = add_aws_role(aws_connection, members, f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Tf")
    sent: list[tuple] = []

    def apply(args: tuple = (), kwargs: dict | None = None, **options: Any) -> AsyncResult:
        sent.append((*args, *(kwargs or {}).values()))
        return AsyncResult("queued")

    monkeypatch.setattr(validate_role_task, "apply", apply)  # eager mode sends through `apply`
    response = api_as("provisioner").post(roles_url(aws_connection, role.pk, "validate"))
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert sent == [(role.pk, members["provisioner"].pk)]  # ids only in the message


def test_queued_validation_is_sent_after_the_commit(
    api_as, aws_connection, members, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    """With a broker, the message leaves when the transaction commits (never for a rolled-back one)."""
    role = add_aws_role(aws_connection, members, f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Tf")
    sent: list[tuple] = []
    monkeypatch.setitem(validate_role_task.app.conf, "task_always_eager", False)
    monkeypatch.setattr(validate_role_task, "apply_async", lambda args, kwargs, task_id: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_as("provisioner").post(roles_url(aws_connection, role.pk, "validate"))
        assert sent == []  # nothing before the commit
    assert response.status_code == 202 and len(callbacks) == 1
    assert sent == [(role.pk, members["provisioner"].pk)]  # ids only in the message
    assert response.json()["status"] == "pending"


def test_api_schema_documents_the_role_endpoints(api_as) -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    assert "/api/v1/orgs/{org_slug}/connections/{name}/roles/" in paths
    assert "post" in paths["/api/v1/orgs/{org_slug}/connections/{name}/roles/{id}/validate/"]


# --- The role table and tenant isolation (the shared permission matrix) ----------------------------

ROLES_URL = "/api/v1/orgs/{org}/connections/{conn}/roles/"


class TestRoleTable(PermissionMatrix):
    """Every role, another organization's connection and role (404, also under our own organization's
    URL), an outsider (404), anonymous; a refused request leaves the role pending and adds none.
    {conn} is aws-<org> (assume role, in moto's account) and {role_id} its one pending role."""

    cases = [
        Case.api("get", ROLES_URL, Action.VIEW),
        Case.api("get", ROLES_URL + "{role_id}/", Action.VIEW),
        Case.api("post", ROLES_URL, Action.MANAGE_ROLES,
                 body={"role_arn": f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Other"}),
        Case.api("post", ROLES_URL + "{role_id}/validate/", Action.MANAGE_ROLES, ok=200),
        Case.api("delete", ROLES_URL + "{role_id}/", Action.MANAGE_ROLES),
    ]  # fmt: skip

    @pytest.fixture(autouse=True)
    def _aws(self, moto, platform_in_moto_account) -> None:
        """The roles' IAM roles live in moto, and validation asks it."""

    def objects(self, org: Organization) -> dict[str, Any]:
        connection, role = create_aws_role_connection(org)
        return {"conn": connection.name, "role_id": role.pk}

    def snapshot(self, org: Organization) -> list[tuple]:
        return connections_state(org) + sorted(ConnectionRole.objects.filter(org=org).values_list("pk", "status"))
