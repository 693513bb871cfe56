"""Every model is in the admin, and every admin list page renders (with filters and search)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse

from accounts.actors import PlatformOperator
from accounts.audit import verify_chains
from accounts.choices import AuditAction
from accounts.models import APIToken, AuditEvent, Environment, Organization, User
from accounts.policy import Action, can, visible
from tests.accounts.conftest import issue_token

pytestmark = pytest.mark.django_db

OUR_APPS = ("accounts", "connections", "identity")


def test_every_model_is_registered():
    missing = [
        m._meta.label
        for app in OUR_APPS
        for m in apps.get_app_config(app).get_models()
        if m not in admin.site._registry
    ]
    assert missing == []


@pytest.mark.parametrize(
    "model", [m for app in OUR_APPS for m in apps.get_app_config(app).get_models()], ids=lambda m: m._meta.label
)
def test_changelist_renders(admin_client, org, members, make_connection, model):
    make_connection(org, "aws", name="aws-admin", environments=("development",))
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "acme"}).status_code == 200


# --- The admin is for platform operators (superusers) only ---------------------------------------------

CANARY_PASSWORD = "canary-Pw-7f3a9c1e-admin"


@pytest.fixture
def staff_of_other_org(other_org, client):
    """An admin of another organization who also has is_staff and every model permission: what an
    organization admin looked like before (the issue's attacker)."""
    user = other_org.memberships.get().user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.all())
    client.force_login(user)
    return user


def test_staff_who_is_not_superuser_gets_no_admin_page(client, staff_of_other_org, org, members):
    for url in [
        reverse("admin:index"),
        reverse("admin:accounts_user_changelist"),
        reverse("admin:accounts_organization_changelist"),
        reverse("admin:accounts_user_change", args=[members["admin"].pk]),
        reverse("admin:auth_user_password_change", args=[members["admin"].pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login"))
        assert client.get(response["Location"]).status_code == 403  # the admin login refuses a signed-in user


def test_staff_cannot_change_passwords_create_objects_or_promote_themselves(client, staff_of_other_org, org, members):
    victim = members["admin"]
    before = {
        "orgs": Organization.objects.count(),
        "users": User.objects.count(),
        "envs": Environment.objects.count(),
        "events": AuditEvent.objects.count(),
    }
    client.post(
        reverse("admin:auth_user_password_change", args=[victim.pk]),
        {"password1": CANARY_PASSWORD, "password2": CANARY_PASSWORD, "usable_password": "true"},
    )
    client.post(
        reverse("admin:accounts_user_change", args=[staff_of_other_org.pk]),
        {"email": staff_of_other_org.email, "is_active": "on", "is_superuser": "on"},
    )
    client.post(reverse("admin:accounts_organization_add"), {"slug": "evil", "name": "Evil", "plan": "enterprise"})
    client.post(
        reverse("admin:accounts_environment_add"), {"org": org.pk, "slug": "evil", "name": "Evil"}
    )
    client.post(
        reverse("admin:accounts_user_add"),
        {"email": "x@evil.test", "password1": CANARY_PASSWORD, "password2": CANARY_PASSWORD, "usable_password": "true"},
    )
    victim.refresh_from_db()
    staff_of_other_org.refresh_from_db()
    assert not victim.check_password(CANARY_PASSWORD)
    assert not staff_of_other_org.is_superuser
    assert before == {
        "orgs": Organization.objects.count(),
        "users": User.objects.count(),
        "envs": Environment.objects.count(),
        "events": AuditEvent.objects.count(),
    }


def test_admin_link_only_for_superusers(client, staff_of_other_org, org, admin_client):
    home = reverse("home")
    assert "Django admin" not in client.get(home, follow=True).content.decode()
    assert "Django admin" in admin_client.get(home, follow=True).content.decode()


def test_seed_demo_gives_nobody_staff(db):
    call_command("seed_demo", password="demo-pass-123", stdout=StringIO())
    assert not User.objects.filter(is_staff=True).exists()


# --- Every change through the admin is audited (names of fields, never values) ---------------------------


def _admin_events():
    return list(AuditEvent.objects.filter(action=AuditAction.ADMIN_CHANGE).order_by("seq"))


def test_admin_change_is_audited_with_field_names(admin_client, members):
    user = members["viewer"]
    response = admin_client.post(
        reverse("admin:accounts_user_change", args=[user.pk]),
        {"email": user.email, "full_name": "Renamed Viewer", "is_active": "on"},
    )
    assert response.status_code == 302
    [event] = _admin_events()
    assert event.org is None and event.actor_label == "admin@example.com"
    assert event.details["operation"] == "change"
    assert event.details["model"] == "accounts.user" and event.details["object_id"] == str(user.pk)
    assert event.details["changed_fields"] == ["full_name"]
    assert "Renamed Viewer" not in str(event.details)


def test_admin_password_change_is_audited_without_the_password(admin_client, members):
    user = members["viewer"]
    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"password1": CANARY_PASSWORD, "password2": CANARY_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(CANARY_PASSWORD)
    [event] = _admin_events()
    assert event.details["changed_fields"] == ["password"]
    rows = list(AuditEvent.objects.values_list("details", "target_repr", "actor_label"))
    assert CANARY_PASSWORD not in str(rows) and user.password not in str(rows)


def test_admin_add_and_bulk_delete_are_audited(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {"email": "ops-new@example.com", "password1": CANARY_PASSWORD, "password2": CANARY_PASSWORD,
         "usable_password": "true"},
    )  # fmt: skip
    assert response.status_code == 302
    groups = [Group.objects.create(name=f"g{i}") for i in range(3)]
    response = admin_client.post(
        reverse("admin:auth_group_changelist"),
        {"action": "delete_selected", "_selected_action": [g.pk for g in groups], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Group.objects.exists()
    events = _admin_events()
    assert [e.details["operation"] for e in events] == ["add", "delete", "delete", "delete"]
    assert events[0].details["model"] == "accounts.user"
    assert sorted(e.target_id for e in events[1:]) == sorted(str(g.pk) for g in groups)
    assert CANARY_PASSWORD not in str([e.details for e in events])
    assert verify_chains()[1] == []


def test_admin_token_revoke_action_works_for_an_operator_and_is_audited(admin_client, org, members):
    issue_token(members["viewer"], org)
    token = APIToken.objects.get()
    response = admin_client.post(
        reverse("admin:accounts_apitoken_changelist"), {"action": "revoke_tokens", "_selected_action": [token.pk]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_REVOKED)
    assert event.org == org and event.actor_label == "admin@example.com (platform operator)"


def test_admin_object_permission_grant_is_audited(admin_client, org, members):
    viewer = members["viewer"]
    url = reverse("admin:accounts_organization_permissions_manage_user", args=[org.pk, viewer.pk])
    response = admin_client.post(url, {"permissions": ["manage_members"]})
    assert response.status_code == 302
    assert viewer.has_perm("accounts.manage_members", org)
    [event] = _admin_events()
    assert event.details["operation"] == "object_permissions"
    assert event.details["changed_fields"] == [f"user:{viewer.pk}"] and event.details["org"] == org.slug


def test_platform_operator_may_only_the_operator_actions(org, members, django_user_model):
    root = django_user_model.objects.create_superuser(email="root@platform.test", password="x" * 12)
    operator = PlatformOperator(root)
    assert visible(operator, org) and can(operator, Action.MANAGE_TOKENS, org)
    assert not can(operator, Action.USE_CONNECTION, org) and not can(operator, Action.MANAGE_MEMBERS, org)
    staff = members["admin"]
    staff.is_staff = True
    impostor = PlatformOperator(staff)  # not a superuser: acts as nobody
    assert not visible(impostor, org) and not can(impostor, Action.VIEW, org)
    root.is_active = False
    assert not can(operator, Action.MANAGE_TOKENS, org)
