"""Fixtures for connections: a helper that creates a valid connection of any provider, and the IAM roles
and settings the connection-role tests share."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from accounts.models import Organization
from connections import role_validation, services
from connections.models import Connection, ConnectionAuthorization, ConnectionRole
from connections.role_validation import do_add_role
from connections.tasks import validate_role_task
from tests.connections.provider_examples import valid_examples
from tests.fakes.moto_server import MOTO_ACCOUNT_ID

# Providers whose example refers to another connection, and the name it refers to.
REFERENCES = {"ecr": "aws", "s3_backend": "aws", "gcr": "gcp", "gcs_backend": "gcp"}


def example(provider: str, auth_method: str | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    methods = valid_examples()[provider]
    method = auth_method or next(iter(methods))
    config, secrets = methods[method]
    return method, copy.deepcopy(config), copy.deepcopy(secrets)


def create_connection(
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
    """A valid connection of `provider` in `org` from the shared examples, created by the org's admin
    through the service (and the connection it refers to, for ECR, GCR and the state backends)."""
    method, ex_config, ex_secrets = example(provider, auth_method)
    actor = actor or org.memberships.filter(role="admin").first().user
    if provider in REFERENCES and "cloud_connection" in ex_config:
        ref_name = ex_config["cloud_connection"]
        if not Connection.objects.filter(org=org, name=ref_name).exists():
            create_connection(org, REFERENCES[provider], name=ref_name, actor=actor)
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


def connections_state(org: Organization) -> list[tuple]:
    """What a refused request must leave as it was: the org's connections (public fields, the secret
    ciphertext, status) and their environment authorizations."""
    return list(
        Connection.objects.filter(org=org)
        .order_by("name")
        .values_list("name", "description", "status", "secrets_envelope", "updated_at", "last_checked_at")
    ) + sorted(
        ConnectionAuthorization.objects.filter(org=org).values_list(
            "connection__name", "environment__slug", "is_default"
        )
    )


@pytest.fixture
def make_connection(members) -> Callable[..., Connection]:
    """make_connection(org, provider, name=..., environments=[...], auth_method=..., config=..., secrets=...)."""
    return create_connection


# --- Connection roles (AWS IAM roles in moto) -----------------------------------------------------


def trust_policy(external_id: str | None, principal: str = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:root") -> dict:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if external_id is not None:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def allow(*actions: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}


def create_iam_role(
    iam: Any,
    name: str,
    trust: dict,
    *,
    managed: dict[str, dict] | None = None,
    inline: dict[str, dict] | None = None,
    max_session: int = 3600,
) -> str:
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=max_session)
    for policy_name, document in (managed or {}).items():
        attach(iam, name, policy_name, document)
    for policy_name, document in (inline or {}).items():
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
    return arn["Role"]["Arn"]


def attach(iam: Any, role_name: str, policy_name: str, document: dict) -> None:
    created = iam.create_policy(PolicyName=policy_name, PolicyDocument=json.dumps(document))
    iam.attach_role_policy(RoleName=role_name, PolicyArn=created["Policy"]["Arn"])


def create_aws_role_connection(org: Organization) -> tuple[Connection, ConnectionRole]:
    """aws-<org>, an assume-role connection in moto's account, with one pending role whose IAM role (in
    moto: the test needs the `moto` fixture) trusts the platform with the connection's External ID."""
    connection = create_connection(
        org, "aws", name=f"aws-{org.slug}", auth_method="assume_role", config={"account_id": MOTO_ACCOUNT_ID}
    )
    iam = boto3.client("iam", region_name="us-east-1")
    arn = create_iam_role(iam, f"tf-{org.slug}", trust_policy(connection.external_id))
    role = do_add_role(connection, actor=org.memberships.filter(role="admin").first().user, role_arn=arn)
    return connection, role


@pytest.fixture
def platform_in_moto_account(settings) -> None:
    """The platform's own AWS account is moto's, so moto's roles can trust it."""
    settings.PLATFORM_AWS_ACCOUNT_ID = MOTO_ACCOUNT_ID


@pytest.fixture
def no_detected_permissions(monkeypatch) -> None:
    """Each test registers its own detected-permission sources."""
    monkeypatch.setattr(role_validation, "DETECTED_PERMISSION_SOURCES", [])


@pytest.fixture
def eager_role_validation(monkeypatch) -> None:
    """The default runtime (no broker): the validate endpoint runs the task in the request."""
    monkeypatch.setitem(validate_role_task.app.conf, "task_always_eager", True)
    monkeypatch.setitem(validate_role_task.app.conf, "task_eager_propagates", True)


@pytest.fixture
def iam(moto) -> Any:
    return boto3.client("iam", region_name="us-east-1")


@pytest.fixture
def aws_connection(org, members, make_connection) -> Connection:
    return make_connection(org, "aws", auth_method="assume_role", config={"account_id": MOTO_ACCOUNT_ID})


def add_aws_role(connection: Connection, members: dict, arn: str, **kwargs: Any) -> ConnectionRole:
    return do_add_role(connection, actor=members["provisioner"], role_arn=arn, **kwargs)
