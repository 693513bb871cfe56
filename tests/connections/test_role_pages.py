"""Connection roles on the pages: add, Validate (provisioners and admins), remove; read-only for others."""

from __future__ import annotations

import boto3
import pytest

from connections.models import ConnectionRole
from tests.connections.test_roles import create_iam_role, trust_policy
from tests.fakes.moto_server import MOTO_ACCOUNT_ID, moto, moto_server  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def aws(org, members, make_connection, moto, settings):
    settings.PLATFORM_AWS_ACCOUNT_ID = MOTO_ACCOUNT_ID
    return make_connection(
        org, "aws", name="aws-prod", auth_method="assume_role", config={"account_id": MOTO_ACCOUNT_ID}
    )


def page(client, user, path="/o/acme/connections/aws-prod/"):
    client.force_login(user)
    return client.get(path)


def test_provisioner_adds_and_validates_a_role(client, members, aws):
    iam = boto3.client("iam", region_name="us-east-1")
    arn = create_iam_role(iam, "Deployer", trust_policy(aws.external_id))
    client.force_login(members["provisioner"])
    assert "Add role" in client.get("/o/acme/connections/aws-prod/").content.decode()
    response = client.post(
        "/o/acme/connections/aws-prod/roles/new/", {"name": "deploy", "role_arn": arn, "session_duration": 3600}
    )
    assert response.status_code == 302
    role = ConnectionRole.objects.get(connection=aws)
    assert role.status == "pending"
    response = client.post(f"/o/acme/connections/aws-prod/roles/{role.pk}/validate/", follow=True)
    role.refresh_from_db()
    assert role.status == "valid", role.validation_error
    assert "Valid" in response.content.decode()


def test_sloppy_trust_is_explained_on_the_page(client, members, aws):
    iam = boto3.client("iam", region_name="us-east-1")
    arn = create_iam_role(iam, "Sloppy", trust_policy(None))
    client.force_login(members["admin"])
    client.post("/o/acme/connections/aws-prod/roles/new/", {"role_arn": arn, "session_duration": 3600})
    role = ConnectionRole.objects.get(connection=aws)
    body = client.post(f"/o/acme/connections/aws-prod/roles/{role.pk}/validate/", follow=True).content.decode()
    role.refresh_from_db()
    assert role.status == "invalid" and "confused deputy" in role.validation_error
    assert "confused deputy" in body


def test_field_errors_on_the_form(client, members, aws):
    client.force_login(members["provisioner"])
    response = client.post(
        "/o/acme/connections/aws-prod/roles/new/", {"role_arn": "not-an-arn", "session_duration": 60}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "role_arn" in body and "900" in body
    assert not ConnectionRole.objects.exists()


@pytest.mark.parametrize("role_name", ["viewer", "user"])
def test_viewers_and_users_cannot_manage_roles(client, members, aws, role_name):
    role = ConnectionRole.objects.create(
        connection=aws, org=aws.org, role_arn=f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/x", session_duration=3600
    )
    body = page(client, members[role_name]).content.decode()
    assert "Add role" not in body and "Validate</button>" not in body
    assert client.get("/o/acme/connections/aws-prod/roles/new/").status_code == 403
    assert client.post(f"/o/acme/connections/aws-prod/roles/{role.pk}/validate/").status_code == 403
    assert client.post(f"/o/acme/connections/aws-prod/roles/{role.pk}/delete/").status_code == 403


def test_roles_only_for_aws_and_azure(client, members, org, make_connection):
    make_connection(org, "github", name="gh-acme")
    client.force_login(members["admin"])
    assert client.get("/o/acme/connections/gh-acme/roles/new/").status_code == 404
    assert "Add role" not in client.get("/o/acme/connections/gh-acme/").content.decode()


def test_remove_role(client, members, aws):
    role = ConnectionRole.objects.create(
        connection=aws, org=aws.org, role_arn=f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/x", session_duration=3600
    )
    client.force_login(members["provisioner"])
    assert client.post(f"/o/acme/connections/aws-prod/roles/{role.pk}/delete/").status_code == 302
    assert not ConnectionRole.objects.exists()
