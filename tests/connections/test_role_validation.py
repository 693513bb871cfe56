"""Connection roles (connections/role_validation.py): adding, validating against moto (server mode, real
HTTP) and a fake Azure, the validation task. The API is tested in test_api_roles.py, the pages in
test_views.py.

moto does not enforce trust policies and has no policy simulator (TESTING.md), so these tests prove
that *our* trust analysis and policy evaluation decide the status: a role with a sloppy trust policy
is assumable in moto, yet must come out invalid.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from accounts.actors import SYSTEM
from accounts.choices import AuditAction
from accounts.models import AuditEvent
from connections import role_validation
from connections.choices import RoleStatusChoices as Status
from connections.models import Connection, ConnectionRole, ConnectionUsage
from connections.providers.aws import clients as aws_clients
from connections.role_validation import (
    RoleNotUsable,
    RoleValidationUnavailable,
    do_add_role,
    do_delete_role,
    do_validate_role,
    register_detected_permissions,
    validate_before_use,
)
from connections.tasks import validate_role_task
from tests.connections.conftest import add_aws_role, allow, attach, create_iam_role, trust_policy
from tests.connections.provider_examples import CLIENT_ID, SUBSCRIPTION_ID, TENANT_ID, valid_examples
from tests.fakes.azure_arm import FakeAzure
from tests.fakes.moto_server import MOTO_ACCOUNT_ID, moto, moto_server  # noqa: F401

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("platform_in_moto_account", "no_detected_permissions", "eager_role_validation"),
]

AZURE_SECRET = valid_examples()["azure"]["client_secret"][1]["client_secret"]
PRINCIPAL_ID = "5d1c9e36-0c8b-4a3e-9f41-2b7d6e8a9c10"
OTHER_PRINCIPAL_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


# --- fixtures and helpers -------------------------------------------------------------------------



def validate(role: ConnectionRole, members: dict, **kwargs: Any) -> ConnectionRole:
    return do_validate_role(role, actor=members["provisioner"], **kwargs)


def detect(*actions: str) -> None:
    register_detected_permissions(lambda role: set(actions))


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


# --- adding roles ---------------------------------------------------------------------------------


def test_add_aws_role_is_pending_and_audited(aws_connection, members) -> None:
    arn = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/path/Terraform.Runner@eu"
    role = add_aws_role(aws_connection, members, arn, session_duration=7200, name="compute")
    assert (role.status, role.role_arn, role.session_duration, role.name) == (Status.PENDING, arn, 7200, "compute")
    [event] = events(AuditAction.CONNECTION_ROLE_ADDED)
    assert event.details["role_arn"] == arn
    assert event.details["session_duration"] == 7200
    assert event.actor_user == members["provisioner"]


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"role_arn": ""}, "role_arn", "An IAM role ARN is required"),
        ({"role_arn": f"arn:aws:iam::{MOTO_ACCOUNT_ID}:user/bob"}, "role_arn", "Enter an IAM role ARN"),
        ({"role_arn": "arn:aws:iam::999999999999:role/Tf"}, "role_arn", "belongs to account 999999999999"),
        ({"session_duration": 899}, "session_duration", "between 900"),
        ({"session_duration": 43201}, "session_duration", "between 900"),
        ({"session_duration": "an hour"}, "session_duration", "whole number"),
        ({"client_id": CLIENT_ID}, "client_id", "Client (application) ID does not apply to Amazon Web Services"),
    ],
)
def test_add_aws_role_field_errors(aws_connection, members, kwargs, field, message) -> None:
    data = {"role_arn": f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Tf", **kwargs}
    with pytest.raises(ValidationError) as caught:
        do_add_role(aws_connection, actor=members["admin"], **data)
    assert message in " ".join(caught.value.message_dict[field])
    assert not ConnectionRole.objects.exists()


def test_add_role_twice_is_a_field_error(aws_connection, members) -> None:
    arn = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Tf"
    add_aws_role(aws_connection, members, arn)
    with pytest.raises(ValidationError) as caught:
        add_aws_role(aws_connection, members, arn)
    assert "already a role" in caught.value.message_dict["role_arn"][0]


def test_roles_only_for_aws_and_azure(org, members, make_connection) -> None:
    github = make_connection(org, "github")
    with pytest.raises(ValidationError) as caught:
        do_add_role(github, actor=members["admin"], role_arn=f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Tf")
    assert caught.value.messages == ["Connection roles are for Amazon Web Services and Microsoft Azure connections."]


def test_add_azure_role_needs_guids(org, members, make_connection) -> None:
    azure = make_connection(org, "azure", auth_method="client_secret")
    with pytest.raises(ValidationError) as caught:
        do_add_role(azure, actor=members["admin"], client_id="not-a-guid")
    assert set(caught.value.message_dict) == {"client_id", "object_id"}
    role = do_add_role(azure, actor=members["admin"], client_id=CLIENT_ID.upper(), object_id=PRINCIPAL_ID)
    assert (role.client_id, role.object_id, role.session_duration) == (CLIENT_ID, PRINCIPAL_ID, None)


@pytest.mark.parametrize("role_name", ["viewer", "user"])
def test_add_and_validate_need_manage_roles(aws_connection, members, role_name) -> None:
    arn = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Tf"
    with pytest.raises(PermissionDenied):
        do_add_role(aws_connection, actor=members[role_name], role_arn=arn)
    role = add_aws_role(aws_connection, members, arn)
    with pytest.raises(PermissionDenied):
        do_validate_role(role, actor=members[role_name])
    assert ConnectionRole.objects.get(pk=role.pk).status == Status.PENDING


# --- AWS validation against moto ------------------------------------------------------------------


def test_valid_role(aws_connection, members, iam) -> None:
    arn = create_iam_role(iam, "tf-valid", trust_policy(aws_connection.external_id), managed={"s3": allow("s3:*")})
    detect("s3:PutObject", "S3:GetObject")
    role = validate(add_aws_role(aws_connection, members, arn, session_duration=3600), members)
    assert role.status == Status.VALID, role.validation_error
    assert role.validation_error == ""
    assert role.granted_permissions == ["s3:*"]
    assert role.detected_permissions == ["S3:GetObject", "s3:PutObject"]
    assert role.missing_permissions == []
    assert role.denied_permissions == []
    assert role.validated_at is not None and role.last_valid_at == role.validated_at
    [event] = events(AuditAction.CONNECTION_ROLE_VALIDATED)
    assert (event.details["old_status"], event.details["new_status"]) == (Status.PENDING, Status.VALID)
    assert event.details["granted"] == ["s3:*"]
    assert event.target_id == str(role.pk)
    assert event.actor_user == members["provisioner"]


def test_inline_and_managed_policies_are_both_read(aws_connection, members, iam) -> None:
    arn = create_iam_role(
        iam,
        "tf-both",
        trust_policy(aws_connection.external_id),
        managed={"net": allow("ec2:*Vpc*", "ec2:Describe*")},
        inline={"state": allow("s3:GetObject", "s3:PutObject", "dynamodb:*")},
    )
    role = validate(add_aws_role(aws_connection, members, arn), members)
    assert role.status == Status.VALID
    assert role.granted_permissions == ["dynamodb:*", "ec2:*Vpc*", "ec2:Describe*", "s3:GetObject", "s3:PutObject"]


def test_sloppy_trust_without_external_id_is_invalid(aws_connection, members, iam) -> None:
    arn = create_iam_role(iam, "tf-sloppy", trust_policy(None), managed={"s3": allow("s3:*")})
    role = validate(add_aws_role(aws_connection, members, arn), members)
    assert role.status == Status.INVALID
    assert "does not require the External ID" in role.validation_error
    assert (
        "so any other customer of the platform could make it assume this role (confused deputy)"
        in role.validation_error
    )
    assert aws_connection.external_id in role.validation_error  # the fix names the value to use


def test_trust_open_to_everyone_is_invalid(aws_connection, members, iam) -> None:
    arn = create_iam_role(iam, "tf-open", trust_policy(aws_connection.external_id, principal="*"))
    role = validate(add_aws_role(aws_connection, members, arn), members)
    assert role.status == Status.INVALID
    assert "any AWS principal" in role.validation_error


def test_wrong_principal_is_invalid(aws_connection, members, iam, settings) -> None:
    arn = create_iam_role(iam, "tf-other", trust_policy(aws_connection.external_id), managed={"s3": allow("s3:*")})
    settings.PLATFORM_AWS_ACCOUNT_ID = "999999999999"  # the platform runs elsewhere than the role trusts
    role = validate(add_aws_role(aws_connection, members, arn), members)
    assert role.status == Status.INVALID
    assert "does not let the platform's AWS account 999999999999 assume this role" in role.validation_error
    assert f"arn:aws:iam::{MOTO_ACCOUNT_ID}:root" in role.validation_error


def test_wrong_external_id_is_invalid(aws_connection, members, iam) -> None:
    arn = create_iam_role(iam, "tf-wrong-eid", trust_policy("someone-elses-external-id"))
    role = validate(add_aws_role(aws_connection, members, arn), members)
    assert role.status == Status.INVALID
    assert "requires a different External ID" in role.validation_error


def test_session_longer_than_the_roles_maximum_is_invalid(aws_connection, members, iam) -> None:
    arn = create_iam_role(iam, "tf-short", trust_policy(aws_connection.external_id), max_session=3600)
    role = validate(add_aws_role(aws_connection, members, arn, session_duration=7200), members)
    assert role.status == Status.INVALID
    assert "longer than the role's maximum session duration (3600 s)" in role.validation_error


def test_missing_permissions_are_invalid_and_listed(aws_connection, members, iam) -> None:
    arn = create_iam_role(iam, "tf-s3", trust_policy(aws_connection.external_id), managed={"s3": allow("s3:*")})
    detect("ec2:RunInstances", "s3:PutObject")
    role = validate(add_aws_role(aws_connection, members, arn), members)
    assert role.status == Status.INVALID
    assert role.missing_permissions == ["ec2:RunInstances"]
    assert role.detected_permissions == ["ec2:RunInstances", "s3:PutObject"]
    assert role.granted_permissions == ["s3:*"]
    assert "ec2:RunInstances (not granted)" in role.validation_error
    assert "s3:PutObject" not in role.validation_error
    assert role.last_valid_at is None


def test_explicit_deny_is_reported(aws_connection, members, iam) -> None:
    guard = {"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}}
    arn = create_iam_role(
        iam, "tf-deny", trust_policy(aws_connection.external_id), managed={"s3": allow("s3:*")}, inline={"guard": guard}
    )
    role = validate(add_aws_role(aws_connection, members, arn), members)
    assert role.status == Status.VALID
    assert role.denied_permissions == ["s3:DeleteBucket"]

    detect("s3:DeleteBucket")
    role = validate(role, members)
    assert role.status == Status.INVALID
    assert role.missing_permissions == ["s3:DeleteBucket"]
    assert "s3:DeleteBucket (explicitly denied by inline policy guard statement 1)" in role.validation_error


def test_drift_after_attaching_another_policy(aws_connection, members, iam) -> None:
    arn = create_iam_role(iam, "tf-drift", trust_policy(aws_connection.external_id), managed={"s3": allow("s3:*")})
    role = validate(add_aws_role(aws_connection, members, arn), members)
    assert role.status == Status.VALID
    first_valid_at = role.last_valid_at

    attach(iam, "tf-drift", "ec2", allow("ec2:*"))
    role = validate(role, members)
    assert role.status == Status.DRIFT
    assert role.granted_permissions == ["ec2:*", "s3:*"]
    assert "granted added: ec2:*" in role.validation_error
    assert role.last_valid_at == first_valid_at  # drift is usable, not "valid as before"
    drift_event = events(AuditAction.CONNECTION_ROLE_VALIDATED)[-1]
    assert drift_event.details["changes"] == {"granted": {"added": ["ec2:*"], "removed": []}}

    role = validate(role, members)  # nothing changed since the drift was seen
    assert role.status == Status.VALID


def test_no_drift_when_fixing_an_invalid_role(aws_connection, members, iam) -> None:
    arn = create_iam_role(iam, "tf-fix", trust_policy(aws_connection.external_id), managed={"s3": allow("s3:*")})
    detect("ec2:RunInstances")
    role = validate(add_aws_role(aws_connection, members, arn), members)
    assert role.status == Status.INVALID
    attach(iam, "tf-fix", "ec2", allow("ec2:*"))
    assert validate(role, members).status == Status.VALID


def test_expired_after_deleting_the_role(aws_connection, members, iam) -> None:
    arn = create_iam_role(iam, "tf-gone", trust_policy(aws_connection.external_id), inline={"s3": allow("s3:*")})
    role = validate(add_aws_role(aws_connection, members, arn), members)
    assert role.status == Status.VALID
    iam.delete_role_policy(RoleName="tf-gone", PolicyName="s3")
    iam.delete_role(RoleName="tf-gone")
    role = validate(role, members)
    assert role.status == Status.EXPIRED
    assert role.validation_error == "The role no longer exists in AWS."
    assert role.granted_permissions == []


def test_validation_refuses_to_run_inside_a_transaction(aws_connection, members) -> None:
    """No row lock may be held while the cloud is asked: validating inside a transaction raises."""
    role = add_aws_role(aws_connection, members, f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Tx")
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        validate(role, members)
    role.refresh_from_db()
    assert role.status == Status.PENDING


def test_access_key_connection_assumes_with_its_own_key(org, members, make_connection, iam) -> None:
    connection = make_connection(org, "aws", auth_method="access_key", name="aws-keys")
    arn = create_iam_role(iam, "tf-keys", trust_policy(None), managed={"s3": allow("s3:*")})
    role = validate(add_aws_role(connection, members, arn), members)
    assert role.status == Status.VALID, role.validation_error
    usage = ConnectionUsage.objects.get(connection=connection)
    assert (usage.purpose, usage.outcome) == ("role-validation", "success")


def test_unreachable_aws_is_an_error_and_retryable(aws_connection, members, iam, monkeypatch) -> None:
    arn = create_iam_role(iam, "tf-net", trust_policy(aws_connection.external_id))
    role = add_aws_role(aws_connection, members, arn)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: connection refused
    aws_clients.clear()
    role = validate(role, members)
    assert role.status == Status.ERROR
    assert role.validation_error.startswith("Validation could not complete:")
    with pytest.raises(RoleValidationUnavailable):
        validate(role, members, raise_transient=True)
    assert ConnectionRole.objects.get(pk=role.pk).status == Status.ERROR


def test_validate_before_use(aws_connection, members, iam) -> None:
    assert validate_before_use(aws_connection, actor=members["provisioner"]) is None
    arn = create_iam_role(iam, "tf-use", trust_policy(aws_connection.external_id), managed={"s3": allow("s3:*")})
    role = add_aws_role(aws_connection, members, arn)
    assert validate_before_use(aws_connection, actor=SYSTEM).status == Status.VALID

    detect("ec2:RunInstances")
    with pytest.raises(RoleNotUsable) as caught:
        validate_before_use(aws_connection, role, actor=SYSTEM)
    assert str(caught.value).startswith(f"Connection role '{arn}' of connection '{aws_connection.name}' is invalid:")
    assert "ec2:RunInstances" in str(caught.value)
    assert events(AuditAction.CONNECTION_ROLE_VALIDATED)[-1].actor_label == "system"


def test_task_validates_by_id_and_is_idempotent(aws_connection, members, iam) -> None:
    arn = create_iam_role(iam, "tf-task", trust_policy(aws_connection.external_id), managed={"s3": allow("s3:*")})
    role = add_aws_role(aws_connection, members, arn)
    assert validate_role_task.delay(role.pk, members["provisioner"].pk).get() == Status.VALID
    assert validate_role_task.delay(role.pk, None).get() == Status.VALID  # again, as the platform
    assert validate_role_task.delay(role.pk + 1000, None).get() is None  # deleted meanwhile: nothing to do
    assert len(events(AuditAction.CONNECTION_ROLE_VALIDATED)) == 2


def test_delete_role_is_audited(aws_connection, members) -> None:
    role = add_aws_role(aws_connection, members, f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Tf")
    with pytest.raises(PermissionDenied):
        do_delete_role(role, actor=members["user"])
    do_delete_role(role, actor=members["admin"])
    assert not ConnectionRole.objects.exists()
    [event] = events(AuditAction.CONNECTION_ROLE_DELETED)
    assert event.target_id == str(role.pk)


# --- Azure validation against a fake Entra ID + Resource Manager ----------------------------------


@pytest.fixture
def azure(settings, monkeypatch, tmp_path: Path) -> Iterator[FakeAzure]:
    for name in ("PROVIDER_ENDPOINT_AZURE_AUTHORITY", "PROVIDER_ENDPOINT_AZURE_MANAGEMENT", "AZURE_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    with FakeAzure(tenant_id=TENANT_ID, subscription_id=SUBSCRIPTION_ID) as fake:
        ca_file = tmp_path / "azure-ca.pem"
        ca_file.write_text(fake.ca_pem)
        settings.AZURE_CA_BUNDLE = str(ca_file)
        settings.PROVIDER_ENDPOINTS = {"azure_authority": fake.url, "azure_management": fake.url}
        settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        fake.add_client(CLIENT_ID, secret=AZURE_SECRET)
        yield fake


@pytest.fixture
def azure_connection(org, members, make_connection) -> Connection:
    return make_connection(org, "azure", auth_method="client_secret")


def add_azure_role(connection: Connection, members: dict, object_id: str = PRINCIPAL_ID) -> ConnectionRole:
    return do_add_role(connection, actor=members["provisioner"], client_id=CLIENT_ID, object_id=object_id)


def test_azure_valid_with_granted_roles(azure, azure_connection, members) -> None:
    azure.page_size = 1  # two assignments over two pages: nextLink is followed
    azure.assign(PRINCIPAL_ID, "Contributor")
    azure.assign(PRINCIPAL_ID, "Reader", scope=f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-net")
    azure.assign(OTHER_PRINCIPAL_ID, "Owner")
    detect("Microsoft.Compute/virtualMachines/write", "Microsoft.Network/virtualNetworks/read")
    role = validate(add_azure_role(azure_connection, members), members)
    assert role.status == Status.VALID, role.validation_error
    assert role.granted_permissions == [
        "Contributor",
        f"Reader (/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-net)",
    ]
    assert role.missing_permissions == []
    listing = [r for r in azure.requests if r.path.endswith("/roleAssignments")]
    assert len(listing) == 2
    assert listing[0].query["$filter"] == [f"principalId eq '{PRINCIPAL_ID}'"]
    assert listing[0].query["api-version"] == ["2022-04-01"]
    usage = ConnectionUsage.objects.get(connection=azure_connection)
    assert usage.purpose == "role-validation"


def test_azure_principal_without_assignment_is_invalid(azure, azure_connection, members) -> None:
    azure.assign(OTHER_PRINCIPAL_ID, "Owner")
    role = validate(add_azure_role(azure_connection, members), members)
    assert role.status == Status.INVALID
    assert role.validation_error == f"The service principal has no role assignment on subscription {SUBSCRIPTION_ID}."
    assert role.granted_permissions == []


def test_azure_missing_operations_are_invalid(azure, azure_connection, members) -> None:
    azure.assign(PRINCIPAL_ID, "Contributor")
    detect("Microsoft.Authorization/roleAssignments/write", "Microsoft.Storage/storageAccounts/write")
    role = validate(add_azure_role(azure_connection, members), members)
    assert role.status == Status.INVALID
    assert role.missing_permissions == ["Microsoft.Authorization/roleAssignments/write"]


def test_azure_bad_connection_secret_is_an_error_without_the_secret(azure, azure_connection, members) -> None:
    azure.add_client(CLIENT_ID, secret="the-right-one-is-elsewhere")
    role = validate(add_azure_role(azure_connection, members), members)
    assert role.status == Status.ERROR
    assert role.validation_error.startswith("Authentication failed:")
    assert "AADSTS7000215" in role.validation_error
    assert AZURE_SECRET not in role.validation_error
    usage = ConnectionUsage.objects.get(connection=azure_connection)
    assert usage.outcome == "success"  # the credentials were handed out; the provider refused them


def test_azure_federated_needs_a_signer(azure, org, members, make_connection, monkeypatch) -> None:
    connection = make_connection(org, "azure", auth_method="federated", name="azure-oidc")
    azure.add_client(CLIENT_ID)  # federated: no secret
    azure.assign(PRINCIPAL_ID, "Reader")
    role = add_azure_role(connection, members)
    monkeypatch.setattr(role_validation, "_platform_signer", lambda connection: None)
    role = validate(role, members)
    assert role.status == Status.ERROR
    assert role.validation_error.startswith("Federated validation needs the OIDC issuer")

    audiences: list[str] = []

    def sign(audience: str) -> str:
        audiences.append(audience)
        return "header.payload.signature"

    role = validate(role, members, sign_assertion=sign)
    assert role.status == Status.VALID, role.validation_error
    assert role.granted_permissions == ["Reader"]
    assert audiences == ["api://AzureADTokenExchange"]
    assert azure.assertions == ["header.payload.signature"]


def test_platform_account_from_sts_when_not_configured(aws_connection, members, iam, settings) -> None:
    settings.PLATFORM_AWS_ACCOUNT_ID = None  # asked of STS GetCallerIdentity: moto answers 123456789012
    arn = create_iam_role(iam, "tf-sts", trust_policy(aws_connection.external_id))
    assert validate(add_aws_role(aws_connection, members, arn), members).status == Status.VALID
