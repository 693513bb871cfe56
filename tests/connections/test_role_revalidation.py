"""The scheduled role re-validation (issue 12, item 5): roles of active connections are re-validated on
their own schedule (ROLE_REVALIDATION_INTERVAL), and drift, expiry or lost permissions raise one alert
that resolves (or stays quiet) when fixed. AWS roles live in moto (server mode); which roles are due
is decided against a fixed `now` relative to each role's `validated_at`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core import mail

from accounts.choices import AuditAction
from accounts.models import AuditEvent, Notification
from connections import role_revalidation, services, tasks
from connections.choices import RoleStatusChoices as Status
from connections.models import ConnectionRole
from connections.providers.aws import clients as aws_clients
from connections.role_validation import do_validate_role, register_detected_permissions
from tests.connections.conftest import add_aws_role, allow, attach, create_iam_role, trust_policy
from tests.fakes.moto_server import MOTO_ACCOUNT_ID, moto, moto_server  # noqa: F401

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("platform_in_moto_account", "no_detected_permissions", "eager_role_validation"),
]

INTERVAL = 86400


@pytest.fixture
def valid_role(aws_connection, members, iam) -> ConnectionRole:
    arn = create_iam_role(iam, "tf-sweep", trust_policy(aws_connection.external_id), inline={"s3": allow("s3:*")})
    role = do_validate_role(add_aws_role(aws_connection, members, arn, name="storage"), actor=members["provisioner"])
    assert role.status == Status.VALID, role.validation_error
    return role


def sweep(role: ConnectionRole, capture) -> ConnectionRole:
    with capture(execute=True):
        return role_revalidation.revalidate_role(ConnectionRole.objects.get(pk=role.pk))


def alerts() -> list[Notification]:
    return list(Notification.objects.filter(title__startswith="Role ").order_by("created_at", "pk"))


def audit(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_due_roles_follow_the_interval(valid_role, org, members, make_connection, settings) -> None:
    settings.ROLE_REVALIDATION_INTERVAL = INTERVAL
    validated = valid_role.validated_at
    assert list(role_revalidation.due_role_ids(validated)) == []
    assert list(role_revalidation.due_role_ids(validated + timedelta(seconds=INTERVAL / 2 - 1))) == []
    assert list(role_revalidation.due_role_ids(validated + timedelta(seconds=INTERVAL))) == [[valid_role.pk]]
    # never validated (pending) roles and roles of inactive connections are not swept
    pending = add_aws_role(valid_role.connection, members, f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/pending")
    assert pending.status == Status.PENDING
    services.do_set_active(valid_role.connection, actor=members["admin"], active=False)
    assert list(role_revalidation.due_role_ids(validated + timedelta(seconds=INTERVAL * 10))) == []


def test_keyset_chunks(valid_role, aws_connection, members, iam) -> None:
    for index in range(4):
        arn = create_iam_role(iam, f"tf-more-{index}", trust_policy(aws_connection.external_id))
        do_validate_role(add_aws_role(aws_connection, members, arn), actor=members["provisioner"])
    later = ConnectionRole.objects.latest("validated_at").validated_at + timedelta(days=2)
    chunks = list(role_revalidation.due_role_ids(later, chunk_size=2))
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    assert sorted(pk for chunk in chunks for pk in chunk) == sorted(ConnectionRole.objects.values_list("pk", flat=True))


def test_drift_alerts_once(valid_role, iam, settings, django_capture_on_commit_callbacks) -> None:
    settings.ALERT_EMAILS_ENABLED = True
    assert sweep(valid_role, django_capture_on_commit_callbacks).status == Status.VALID
    assert alerts() == []

    attach(iam, "tf-sweep", "ec2", allow("ec2:*"))
    role = sweep(valid_role, django_capture_on_commit_callbacks)
    assert role.status == Status.DRIFT and role.alert_status == Status.DRIFT
    [note] = alerts()
    assert note.level == "warning"
    assert note.title == f"Role 'storage' of connection '{role.connection.name}' changed"
    assert "granted added: ec2:*" in note.message
    assert role.alert_notification_id == note.pk
    [event] = audit(AuditAction.CONNECTION_ROLE_ALERT)
    assert event.actor_type == "system" and event.details["new_status"] == Status.DRIFT
    assert [m.subject for m in mail.outbox] == [f"[acme] {note.title}"]

    for _ in range(2):  # the change is the new baseline: quiet, and the drift alert stays for people to read
        role = sweep(role, django_capture_on_commit_callbacks)
        assert role.status == Status.VALID and role.alert_status == ""
    assert len(alerts()) == 1 and alerts()[0].dismissed_at is None
    assert audit(AuditAction.CONNECTION_ROLE_ALERT_RESOLVED) == []

    iam.delete_role_policy(RoleName="tf-sweep", PolicyName="s3")  # a second, different change
    assert sweep(role, django_capture_on_commit_callbacks).status == Status.DRIFT
    assert len(alerts()) == 2


def test_expiry_alerts_once_and_resolves_when_fixed(
    valid_role, aws_connection, iam, django_capture_on_commit_callbacks
) -> None:
    iam.delete_role_policy(RoleName="tf-sweep", PolicyName="s3")
    iam.delete_role(RoleName="tf-sweep")
    for _ in range(3):
        role = sweep(valid_role, django_capture_on_commit_callbacks)
        assert role.status == Status.EXPIRED
    [note] = alerts()
    assert note.level == "error" and note.title.endswith("no longer exists")
    assert "The role no longer exists in AWS." in note.message
    assert len(audit(AuditAction.CONNECTION_ROLE_ALERT)) == 1

    create_iam_role(iam, "tf-sweep", trust_policy(aws_connection.external_id), inline={"s3": allow("s3:*")})
    role = sweep(role, django_capture_on_commit_callbacks)
    assert role.status == Status.VALID and role.alert_status == "" and role.alert_notification is None
    note.refresh_from_db()
    assert note.dismissed_at is not None  # off the banner
    [resolved] = audit(AuditAction.CONNECTION_ROLE_ALERT_RESOLVED)
    assert resolved.details["was"] == Status.EXPIRED and resolved.details["notification_id"] == note.pk
    sweep(role, django_capture_on_commit_callbacks)
    assert len(alerts()) == 1 and len(audit(AuditAction.CONNECTION_ROLE_ALERT_RESOLVED)) == 1


def test_lost_permissions_alert_once(valid_role, iam, django_capture_on_commit_callbacks) -> None:
    needed: set[str] = {"s3:PutObject"}
    register_detected_permissions(lambda role: needed)
    assert sweep(valid_role, django_capture_on_commit_callbacks).status == Status.VALID
    needed.add("ec2:RunInstances")  # the code now needs more than the role has
    for _ in range(2):
        role = sweep(valid_role, django_capture_on_commit_callbacks)
        assert role.status == Status.INVALID
    [note] = alerts()
    assert note.title.endswith("is no longer usable") and "ec2:RunInstances" in note.message
    attach(iam, "tf-sweep", "ec2", allow("ec2:RunInstances"))
    role = sweep(role, django_capture_on_commit_callbacks)
    assert role.status == Status.VALID
    note.refresh_from_db()
    assert note.dismissed_at is not None


def test_never_usable_role_does_not_alert(aws_connection, members, iam, django_capture_on_commit_callbacks) -> None:
    """An invalid role that was never valid is its owner's to-do, not news: the sweep stays quiet."""
    arn = create_iam_role(iam, "tf-open", trust_policy(None))  # no External ID: invalid from the start
    role = do_validate_role(add_aws_role(aws_connection, members, arn), actor=members["provisioner"])
    assert role.status == Status.INVALID
    assert sweep(role, django_capture_on_commit_callbacks).status == Status.INVALID
    assert alerts() == []


def test_unreachable_cloud_stays_quiet(valid_role, iam, monkeypatch, django_capture_on_commit_callbacks) -> None:
    iam.delete_role_policy(RoleName="tf-sweep", PolicyName="s3")
    iam.delete_role(RoleName="tf-sweep")
    role = sweep(valid_role, django_capture_on_commit_callbacks)
    assert len(alerts()) == 1
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    aws_clients.clear()
    role = sweep(role, django_capture_on_commit_callbacks)
    assert role.status == Status.ERROR
    assert role.alert_status == Status.EXPIRED  # the open alert stays open; no new one
    assert len(alerts()) == 1 and alerts()[0].dismissed_at is None


def test_beat_entry_and_tasks(valid_role, iam, settings, django_capture_on_commit_callbacks) -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["connection-role-revalidation"]
    assert entry["task"] == "connections.tasks.role_revalidation_sweep"
    assert entry["schedule"] == django_settings.ROLE_REVALIDATION_INTERVAL
    settings.ROLE_REVALIDATION_INTERVAL = 0  # everything validated before now is due
    iam.delete_role_policy(RoleName="tf-sweep", PolicyName="s3")
    iam.delete_role(RoleName="tf-sweep")
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.role_revalidation_sweep.apply().get() == 1  # one chunk, run eagerly
        assert tasks.role_revalidation_sweep.apply().get() == 1
    assert ConnectionRole.objects.get(pk=valid_role.pk).status == Status.EXPIRED
    assert len(alerts()) == 1
    assert tasks.revalidate_roles_chunk.apply(args=[[valid_role.pk, 999999]]).get() == 1
