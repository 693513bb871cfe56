"""Connection services (connections/services.py): create, plan limits, authorization, rotation and updates,
deletion, concurrent rotations. Selection and use are in test_runtime.py."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.db import connections as db_connections

from accounts.models import AuditEvent, Environment
from connections import services
from connections.models import Connection, ConnectionAuthorization
from connections.providers import REGISTRY
from connections.runtime import (
    use_credentials,
)
from tests.connections.provider_examples import valid_examples

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("provider", "method"), [(p, m) for p, methods in valid_examples().items() for m in methods])
def test_every_provider_and_method_can_be_created(org, members, make_connection, provider, method):
    conn = make_connection(org, provider, auth_method=method, environments=("development",))
    conn.refresh_from_db()
    assert conn.category == REGISTRY[provider].category
    _, secrets = valid_examples()[provider][method]
    assert sorted(conn.secret_fingerprints) == sorted(k for k, v in secrets.items() if v)
    for value in secrets.values():
        assert str(value) not in conn.secrets_envelope
    assert list(conn.environments.values_list("slug", flat=True)) == ["development"]
    event = AuditEvent.objects.filter(action="connection.created", target_id=str(conn.pk)).get()
    assert all(str(v) not in str(event.details) for v in secrets.values())


def test_assume_role_gets_a_generated_external_id(org, members, make_connection):
    a = make_connection(org, "aws", auth_method="assume_role", name="aws-a")
    b = make_connection(org, "aws", auth_method="assume_role", name="aws-b")
    assert len(a.external_id) >= 32 and a.external_id != b.external_id
    assert make_connection(org, "aws", auth_method="access_key", name="aws-c").external_id == ""


def test_only_admins_create(org, members, make_connection):
    for role in ("viewer", "user", "provisioner"):
        with pytest.raises(PermissionDenied):
            make_connection(org, "github", name=f"gh-{role}", actor=members[role])


def test_duplicate_name_and_bad_name(org, members, make_connection):
    make_connection(org, "github", name="github-acme")
    with pytest.raises(ValidationError) as exc:
        make_connection(org, "github", name="github-acme")
    assert "name" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        make_connection(org, "github", name="GitHub_Acme")
    assert "name" in exc.value.message_dict


def test_validation_errors_are_keyed_by_body_section(org, members, make_connection):
    with pytest.raises(ValidationError) as exc:
        make_connection(org, "aws", config={"account_id": "12345"}, secrets={"secret_access_key": "short"})
    assert set(exc.value.message_dict) >= {"config.account_id", "secrets.secret_access_key"}


# --- Plan limits ----------------------------------------------------------------------------------


def test_free_plan_allows_one_cloud_provider_type(org, members, make_connection):
    org.plan = "free"
    org.save()
    make_connection(org, "aws", name="aws-one")
    make_connection(org, "aws", name="aws-two")  # same type is fine
    make_connection(org, "github")  # not a cloud provider
    with pytest.raises(PermissionDenied) as exc:
        make_connection(org, "gcp")
    assert "needs the Starter plan" in str(exc.value)
    assert exc.value.code == "plan_limit"


def test_on_prem_needs_enterprise(org, members, make_connection):
    org.plan = "starter"
    org.save()
    make_connection(org, "aws")
    make_connection(org, "azure")
    with pytest.raises(PermissionDenied) as exc:
        make_connection(org, "proxmox")
    assert "need the Enterprise plan" in str(exc.value)
    assert not Connection.objects.filter(provider="proxmox").exists()


# --- Authorization ----------------------------------------------------------------------------------------


def test_several_connections_of_a_provider_per_environment_the_first_is_the_default(org, members, make_connection):
    networking = make_connection(org, "aws", name="aws-networking", environments=("development",))
    workloads = make_connection(org, "aws", name="aws-workloads", environments=("development",))
    rows = dict(
        ConnectionAuthorization.objects.filter(environment__slug="development").values_list(
            "connection__name", "is_default"
        )
    )
    assert rows == {networking.name: True, workloads.name: False}


def test_durable_services_refuse_a_callers_transaction(org, members, make_connection):
    """Durable do_* have committed when they return; inside someone else's transaction they raise instead."""
    conn = make_connection(org, "github", name="gh-durable", environments=("development",))
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.do_set_authorizations(conn, ["staging"], actor=members["admin"])
    assert list(conn.authorizations.values_list("environment__slug", flat=True)) == ["development"]


def test_database_constraint_allows_one_default_only(org, members, make_connection):
    dev = Environment.objects.get(org=org, slug="development")
    a = make_connection(org, "aws", name="aws-a", environments=("development",))
    b = make_connection(org, "aws", name="aws-b")
    with pytest.raises(DatabaseError), transaction.atomic():
        ConnectionAuthorization.objects.create(connection=b, environment=dev, org=org, provider="aws", is_default=True)
    assert a.authorizations.get().is_default
    ConnectionAuthorization.objects.create(connection=b, environment=dev, org=org, provider="aws")  # not default: fine


def test_set_default_moves_the_default_and_is_audited(org, members, make_connection):
    dev = Environment.objects.get(org=org, slug="development")
    first = make_connection(org, "aws", name="aws-first", environments=("development",))
    second = make_connection(org, "aws", name="aws-second", environments=("development",))
    assert services.do_set_default_connection(second, dev, actor=members["admin"]) is True
    assert services.do_set_default_connection(second, dev, actor=members["admin"]) is False
    defaults = ConnectionAuthorization.objects.filter(environment=dev, is_default=True)
    assert list(defaults.values_list("connection__name", flat=True)) == ["aws-second"]
    assert first.authorizations.filter(environment=dev).exists()  # still authorized, usable by name
    event = AuditEvent.objects.get(action="connection.default_set")
    assert (event.environment, event.details) == ("development", {"provider": "aws", "previous": "aws-first"})


def test_set_default_needs_an_authorization_and_the_manage_permission(org, members, make_connection):
    dev = Environment.objects.get(org=org, slug="development")
    make_connection(org, "aws", name="aws-first", environments=("development",))
    other = make_connection(org, "aws", name="aws-other", environments=("staging",))
    with pytest.raises(ValidationError) as exc:
        services.do_set_default_connection(other, dev, actor=members["admin"])
    assert exc.value.message_dict["environment"] == [
        "'aws-other' is not authorized for environment 'development'; authorize it first."
    ]
    with pytest.raises(PermissionDenied):
        services.do_set_default_connection(other, dev, actor=members["user"])
    assert not AuditEvent.objects.filter(action="connection.default_set").exists()


def test_revoking_the_default_promotes_the_longest_authorized(org, members, make_connection):
    dev = Environment.objects.get(org=org, slug="development")
    first = make_connection(org, "aws", name="aws-first", environments=("development",))
    make_connection(org, "aws", name="aws-second", environments=("development",))
    make_connection(org, "aws", name="aws-third", environments=("development",))
    services.do_revoke_environment(first, dev, actor=members["admin"])
    default = ConnectionAuthorization.objects.get(environment=dev, is_default=True)
    assert default.connection.name == "aws-second"
    event = AuditEvent.objects.filter(action="connection.deauthorized").latest("pk")
    assert event.details == {"new_default": "aws-second"}


# --- Rotation and updates -------------------------------------------------------------------------


def test_rotate_replaces_only_given_secrets_and_ignores_placeholders(org, members, make_connection):
    conn = make_connection(org, "proxmox", name="pve", environments=("production",))
    before = dict(conn.secret_fingerprints)
    new_token = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
    conn = services.do_rotate_credentials(
        conn, actor=members["admin"], secrets={"token": new_token, "ssh_password": "***"}
    )
    assert conn.secret_fingerprints["token"] != before["token"]
    assert conn.secret_fingerprints.get("ssh_password") == before.get("ssh_password")
    with use_credentials(conn, actor=members["admin"], environment="production") as creds:
        assert creds.secrets["token"] == new_token
    with pytest.raises(ValidationError):
        services.do_rotate_credentials(conn, actor=members["admin"], secrets={"token": "***"})


def test_update_public_fields_never_touches_secrets(org, members, make_connection):
    conn = make_connection(org, "aws", name="aws-dev")
    envelope = conn.secrets_envelope
    conn = services.do_update_connection(conn, actor=members["admin"], config={"region": "eu-west-1"})
    assert conn.config["region"] == "eu-west-1" and conn.secrets_envelope == envelope
    with pytest.raises(ValidationError) as exc:
        services.do_update_connection(conn, actor=members["admin"], config={"secret_access_key": "x" * 40})
    assert "config.secret_access_key" in exc.value.message_dict


# --- Deletion -------------------------------------------------------------------------------------


def test_deletion_preview_and_blocking_reference(org, members, make_connection):
    admin = members["admin"]
    ecr = make_connection(org, "ecr", name="ecr-prod", environments=("production",))
    aws = ecr.cloud_connection
    preview = services.deletion_preview(aws, actor=members["viewer"]).as_dict()
    assert preview["can_delete"] is False
    assert preview["blocking"]["connections"]["items"] == ["ecr-prod"]
    assert preview["blocking"]["terraform_projects"]["count"] == 0
    assert set(preview["will_delete"]) >= {"roles", "cost_records", "sync_jobs", "authorizations", "usage"}
    with pytest.raises(ValidationError):
        services.do_delete_connection(aws, actor=admin)
    services.do_delete_connection(ecr, actor=admin)
    services.do_delete_connection(aws, actor=admin)
    assert not Connection.objects.filter(org=org).exists()
    assert AuditEvent.objects.filter(action="connection.deleted").count() == 2


# --- Concurrency (real PostgreSQL row locks; SQLite serializes writers) ---------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_rotations_leave_one_of_the_two_values(org, members, make_connection):
    conn = make_connection(org, "github", name="gh-race", environments=("development",))
    values = ["ghp_" + "A" * 36, "ghp_" + "B" * 36]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def rotate(value: str) -> None:
        try:
            barrier.wait()
            services.do_rotate_credentials(
                Connection.objects.get(pk=conn.pk), actor=members["admin"], secrets={"token": value}
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            db_connections.close_all()

    threads = [threading.Thread(target=rotate, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conn.refresh_from_db()
    assert conn.secrets_version == 3  # created (1) + two rotations, neither lost
    with use_credentials(conn, actor=members["admin"], environment="development") as creds:
        assert creds.secrets["token"] in values
