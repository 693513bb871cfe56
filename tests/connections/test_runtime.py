"""Using connections (connections/runtime.py): which connection an environment gets (select_connection, its
messages word for word), and use_credentials (policy, authorization, audit before release, usage records,
masked failures, referenced cloud connections)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError

from accounts.models import AuditEvent, Environment
from connections import services
from connections.models import ConnectionUsage
from connections.runtime import (
    ConnectionNotAuthorized,
    NoConnectionAvailable,
    select_connection,
    use_credentials,
)
from tests.connections.provider_examples import valid_examples

pytestmark = pytest.mark.django_db


def test_selection_messages_word_for_word(org, members, make_connection):
    with pytest.raises(NoConnectionAvailable) as exc:
        select_connection(org, "production", "aws")
    assert str(exc.value) == "No connection available for provider 'aws' in environment 'production'"
    make_connection(org, "aws", name="aws-dev", environments=("development",))
    with pytest.raises(ConnectionNotAuthorized) as exc:
        select_connection(org, "production", "aws")
    assert str(exc.value) == "Connection 'aws-dev' is not authorized for environment 'production'"
    with pytest.raises(ConnectionNotAuthorized) as exc:
        select_connection(org, "production", "aws", connection="aws-dev")
    assert str(exc.value) == "Connection 'aws-dev' is not authorized for environment 'production'"
    selection = select_connection(org, "development", "aws")
    assert selection.connection.name == "aws-dev" and "authorized for environment 'development'" in selection.reason


def test_selection_changes_take_effect_for_next_use(org, members, make_connection):
    admin = members["admin"]
    dev = Environment.objects.get(org=org, slug="development")
    first = make_connection(org, "aws", name="aws-first", environments=("development",))
    second = make_connection(org, "aws", name="aws-second")
    assert select_connection(org, "development", "aws").connection == first
    services.do_revoke_environment(first, dev, actor=admin)
    services.do_authorize_environment(second, dev, actor=admin)
    assert select_connection(org, "development", "aws").connection == second


def test_deactivated_connections_are_never_selected(org, members, make_connection):
    conn = make_connection(org, "aws", name="aws-dev", environments=("development",))
    services.do_set_active(conn, actor=members["admin"], active=False)
    with pytest.raises(NoConnectionAvailable) as exc:
        select_connection(org, "development", "aws")
    assert str(exc.value) == "No connection available for provider 'aws' in environment 'development'"
    with pytest.raises(NoConnectionAvailable):
        with use_credentials(conn, actor=members["user"], environment="development"):
            pass


def test_use_credentials_audits_records_usage_and_materializes(org, members, make_connection):
    conn = make_connection(org, "aws", name="aws-dev", environments=("development",))
    _, _, secrets = ("", {}, valid_examples()["aws"]["access_key"][1])
    with use_credentials(conn, actor=members["user"], environment="development", purpose="run:1") as creds:
        env = creds.materialize().env
        assert env["AWS_SECRET_ACCESS_KEY"] == secrets["secret_access_key"]
        assert secrets["secret_access_key"] not in repr(creds)
    usage = ConnectionUsage.objects.get(connection=conn)
    assert (usage.outcome, usage.environment, usage.purpose, usage.actor_label) == (
        "success",
        "development",
        "run:1",
        "user@acme.test",
    )
    event = AuditEvent.objects.get(action="connection.credentials_used")
    assert event.environment == "development" and event.details["usage_id"] == usage.pk
    conn.refresh_from_db()
    assert conn.last_used_at is not None


def test_viewer_cannot_use_credentials(org, members, make_connection):
    conn = make_connection(org, "aws", name="aws-dev", environments=("development",))
    with pytest.raises(PermissionDenied):
        with use_credentials(conn, actor=members["viewer"], environment="development"):
            pass
    assert not ConnectionUsage.objects.exists()


def test_unauthorized_environment_is_refused(org, members, make_connection):
    conn = make_connection(org, "aws", name="aws-dev", environments=("development",))
    with pytest.raises(ConnectionNotAuthorized) as exc:
        with use_credentials(conn, actor=members["user"], environment="production"):
            pass
    assert str(exc.value) == "Connection 'aws-dev' is not authorized for environment 'production'"


def test_no_audit_no_secret(org, members, make_connection, monkeypatch):
    conn = make_connection(org, "aws", name="aws-dev", environments=("development",))

    def broken_save(self, *args, **kwargs):
        raise DatabaseError("audit down")

    monkeypatch.setattr(AuditEvent, "save", broken_save)
    released = []
    with pytest.raises(Exception, match="audit event could not be recorded"):
        with use_credentials(conn, actor=members["user"], environment="development") as creds:
            released.append(creds)
    assert released == [] and not ConnectionUsage.objects.exists()


def test_failure_inside_use_is_recorded_masked(org, members, make_connection):
    conn = make_connection(org, "aws", name="aws-dev", environments=("development",))
    secret = valid_examples()["aws"]["access_key"][1]["secret_access_key"]
    with pytest.raises(RuntimeError):
        with use_credentials(conn, actor=members["user"], environment="development"):
            raise RuntimeError(f"terraform failed with key {secret}")
    usage = ConnectionUsage.objects.get()
    assert usage.outcome == "failure" and secret not in usage.error and "[masked]" in usage.error


def test_registry_reference_uses_the_cloud_connection(org, members, make_connection):
    ecr = make_connection(org, "ecr", name="ecr-prod", environments=("production",))
    assert ecr.cloud_connection.name == "aws-production"
    with use_credentials(ecr, actor=members["user"], environment="production") as creds:
        env = creds.materialize().env
    assert env["AWS_ACCESS_KEY_ID"] == valid_examples()["aws"]["access_key"][0]["access_key_id"]
    assert ConnectionUsage.objects.filter(connection=ecr.cloud_connection).exists()


# --- Multi-account environments: one default per (environment, provider) ---------------------------


def test_automatic_selection_picks_the_default_and_a_caller_may_name_another(org, members, make_connection):
    dev = Environment.objects.get(org=org, slug="development")
    networking = make_connection(org, "aws", name="aws-networking", environments=("development",))
    workloads = make_connection(org, "aws", name="aws-workloads", environments=("development",))
    make_connection(org, "aws", name="aws-audit", environments=("staging",))

    selection = select_connection(org, "development", "aws")
    assert selection.connection == networking
    assert selection.reason == (
        "'aws-networking' is the default aws connection of environment 'development' "
        "(1 other authorized there must be named)."
    )
    assert select_connection(org, "development", "aws", connection="aws-workloads").connection == workloads
    with pytest.raises(ConnectionNotAuthorized) as exc:
        select_connection(org, "development", "aws", connection="aws-audit")
    assert str(exc.value) == "Connection 'aws-audit' is not authorized for environment 'development'"

    services.do_set_default_connection(workloads, dev, actor=members["admin"])
    assert select_connection(org, "development", "aws").connection == workloads
    with use_credentials(networking, actor=members["user"], environment="development"):
        pass  # a non-default authorized connection is still usable


def test_a_deactivated_default_is_not_replaced_silently(org, members, make_connection):
    default = make_connection(org, "aws", name="aws-default", environments=("development",))
    make_connection(org, "aws", name="aws-other", environments=("development",))
    services.do_set_active(default, actor=members["admin"], active=False)
    with pytest.raises(NoConnectionAvailable) as exc:
        select_connection(org, "development", "aws")
    assert str(exc.value) == "No connection available for provider 'aws' in environment 'development'"
    assert select_connection(org, "development", "aws", connection="aws-other").connection.name == "aws-other"
