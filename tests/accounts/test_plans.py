"""The plan is billing: organization admins cannot change it (API refuses with a field error), a platform
operator changes it in the admin site or the billing hook runs `set_plan`, and a downgrade is refused
while the organization exceeds the new plan, naming each limit."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts import services
from accounts.actors import SYSTEM, PlatformOperator
from accounts.audit import verify_chains
from accounts.choices import AuditAction, PlanChoices, RoleChoices
from accounts.models import AuditEvent, Organization

pytestmark = pytest.mark.django_db


def _plan(org: Organization) -> str:
    return Organization.objects.get(pk=org.pk).plan


def test_org_admin_cannot_change_plan_through_the_api(api_as, org):
    org.plan = PlanChoices.FREE
    org.save()
    response = api_as(RoleChoices.ADMIN).patch(f"/api/v1/orgs/{org.slug}/", {"plan": "enterprise"}, format="json")
    assert response.status_code == 400
    assert "billing" in response.json()["error"]["fields"]["plan"][0]
    assert _plan(org) == PlanChoices.FREE
    assert not AuditEvent.objects.filter(action=AuditAction.ORG_PLAN_CHANGED).exists()
    # The same plan, or a rename, is fine.
    response = api_as(RoleChoices.ADMIN).patch(
        f"/api/v1/orgs/{org.slug}/", {"plan": "free", "name": "Acme Renamed"}, format="json"
    )
    assert response.status_code == 200 and response.json()["name"] == "Acme Renamed"


def test_members_and_tokens_cannot_call_do_change_plan(org, members):
    for user in members.values():
        with pytest.raises(PermissionDenied):
            services.do_change_plan(org, plan=PlanChoices.FREE, actor=user)
    staff = members["admin"]
    staff.is_staff = True
    with pytest.raises(PermissionDenied):
        services.do_change_plan(org, plan=PlanChoices.FREE, actor=PlatformOperator(staff))  # not a superuser
    assert _plan(org) == PlanChoices.ENTERPRISE


def test_set_plan_command_is_the_billing_hook_and_is_audited(org):
    org.plan = PlanChoices.FREE
    org.save()
    out = StringIO()
    call_command("set_plan", org.slug, "starter", stdout=out)
    assert _plan(org) == PlanChoices.STARTER and "free -> starter" in out.getvalue()
    event = AuditEvent.objects.get(action=AuditAction.ORG_PLAN_CHANGED)
    assert event.org == org and event.actor_label == "system"
    assert event.details == {"old": "free", "new": "starter"}
    with pytest.raises(CommandError, match="No organization"):
        call_command("set_plan", "nope", "starter")


def test_downgrade_refused_while_over_the_new_plans_limits(org, make_connection):
    make_connection(org, "proxmox", name="dc-proxmox")
    make_connection(org, "aws", name="aws-main")
    make_connection(org, "digitalocean", name="do-main")
    with pytest.raises(ValidationError) as exc:
        services.do_change_plan(org, plan=PlanChoices.STARTER, actor=SYSTEM)
    [message] = exc.value.message_dict["plan"]
    assert "need the Enterprise plan" in message and "dc-proxmox" in message
    with pytest.raises(CommandError) as cmd:
        call_command("set_plan", org.slug, "free")
    assert "Enterprise plan" in str(cmd.value) and "one cloud provider type" in str(cmd.value)
    assert _plan(org) == PlanChoices.ENTERPRISE
    # An upgrade is never refused; a downgrade the organization fits goes through.
    other = Organization.objects.create(slug="small", name="Small", plan=PlanChoices.ENTERPRISE)
    services.do_change_plan(other, plan=PlanChoices.FREE, actor=SYSTEM)
    assert _plan(other) == PlanChoices.FREE


def test_operator_changes_plan_in_the_admin_and_a_downgrade_shows_the_reason(admin_client, org, make_connection):
    make_connection(org, "proxmox", name="dc-proxmox")
    url = reverse("admin:accounts_organization_change", args=[org.pk])
    form = {
        "name": org.name, "plan": "starter",
        **{f"{p}-TOTAL_FORMS": "0" for p in ("environments", "memberships")},
        **{f"{p}-INITIAL_FORMS": "0" for p in ("environments", "memberships")},
    }  # fmt: skip
    response = admin_client.post(url, form)
    assert response.status_code == 200 and "need the Enterprise plan" in response.content.decode()
    assert _plan(org) == PlanChoices.ENTERPRISE
    org.connections.all().delete()
    response = admin_client.post(url, form)
    assert response.status_code == 302
    assert _plan(org) == PlanChoices.STARTER
    changed = AuditEvent.objects.get(action=AuditAction.ORG_PLAN_CHANGED)
    assert changed.actor_label == "admin@example.com (platform operator)"
    admin_event = AuditEvent.objects.get(action=AuditAction.ADMIN_CHANGE)
    assert admin_event.details["changed_fields"] == ["plan"]
    assert verify_chains()[1] == []
