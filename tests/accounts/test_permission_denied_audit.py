"""Permission denials (pages and API) are audited: one event per actor, method and path per window, in
the organization's chain for its members, never for outsiders (who get 404) or anonymous requests."""

from __future__ import annotations

import pytest

from accounts.choices import AuditAction, RoleChoices
from accounts.models import AuditEvent
from tests.accounts.conftest import issue_token, token_client

pytestmark = pytest.mark.django_db


def _denials():
    return list(AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).order_by("seq"))


def test_api_denial_is_recorded_once_per_window(api_as, org, members):
    client = api_as(RoleChoices.VIEWER)
    for _ in range(3):
        assert client.post(f"/api/v1/orgs/{org.slug}/environments/", {"slug": "qa"}).status_code == 403
    [event] = _denials()
    assert event.org == org and event.actor_label == "viewer@acme.test"
    assert event.details["method"] == "POST" and event.details["path"] == f"/api/v1/orgs/{org.slug}/environments/"
    assert "does not allow" in event.details["reason"]


def test_page_denial_is_recorded(client_as, org, members):
    assert client_as(RoleChoices.USER).get(f"/o/{org.slug}/members/add/").status_code == 403
    [event] = _denials()
    assert event.org == org and event.actor_label == "user@acme.test" and event.details["method"] == "GET"


def test_capped_token_denial_names_the_token(members, org):
    value = issue_token(members["admin"], org, role_cap=RoleChoices.VIEWER)
    assert token_client(value).get(f"/api/v1/orgs/{org.slug}/audit/").status_code == 403
    [event] = _denials()
    assert "token" in event.actor_label and value not in str(event.details)


def test_outsiders_and_anonymous_leave_no_denial(api, api_as, client, org, members, other_org):
    other_admin = other_org.memberships.get().user
    client.force_login(other_admin)
    assert client.get(f"/o/{org.slug}/members/add/").status_code == 404
    assert api.post(f"/api/v1/orgs/{org.slug}/environments/", {"slug": "qa"}).status_code in (401, 403)
    assert _denials() == []


def test_staff_refused_by_the_admin_site_is_recorded_on_the_platform_chain(client, org, members):
    user = members["admin"]
    user.is_staff = True
    user.save()
    client.force_login(user)
    assert client.get("/admin/login/").status_code == 403
    [event] = _denials()
    assert event.org is None and event.actor_label == "admin@acme.test"
