"""Server-rendered pages of the accounts app: the role table on every page, tenant isolation (404),
the forms and their service errors, tokens shown once, audit filters and pagination, query counts."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.audit import AuditWriteError
from accounts.choices import AuditAction, RoleChoices
from accounts.models import (
    APIToken,
    AuditEvent,
    Environment,
    Invitation,
    Membership,
    Notification,
    Organization,
    User,
    hash_token,
)
from accounts.policy import Action
from tests.accounts.test_api import make_invitation
from tests.conftest import PASSWORD, make_member
from tests.permissions import Case, PermissionMatrix

pytestmark = pytest.mark.django_db


def url(name: str, org_slug: str = "acme", **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": org_slug, **kwargs})


def text(response) -> str:
    return response.content.decode()


def body_rows(page: str) -> int:
    """Rows in the page's (first) table body; 0 when the page shows an empty state instead."""
    match = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    return match.group(1).count("<tr>") if match else 0


def events(org, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(org=org, action=action))


# --- The role table on every page, and tenant isolation (the shared permission matrix) --------------


class TestRoleTable(PermissionMatrix):
    """Every page and form of the accounts app: every role, another organization's objects (404), an
    outsider (404), anonymous (sent to login); a refused request changes nothing."""

    refused_before_lookup = frozenset({"member", "alert", "invitation"})
    cases = [
        Case.page("get", "/o/{org}/", Action.VIEW),
        Case.page("get", "/o/{org}/environments/", Action.VIEW),
        Case.page("get", "/o/{org}/environments/new/", Action.MANAGE_ENVIRONMENTS),
        Case.page("get", "/o/{org}/environments/staging/edit/", Action.MANAGE_ENVIRONMENTS),
        Case.page("get", "/o/{org}/environments/staging/delete/", Action.MANAGE_ENVIRONMENTS),
        Case.page("get", "/o/{org}/members/", Action.VIEW),
        Case.page("get", "/o/{org}/members/add/", Action.MANAGE_MEMBERS),
        Case.page("get", "/o/{org}/members/{member}/role/", Action.MANAGE_MEMBERS),
        Case.page("get", "/o/{org}/members/{member}/remove/", Action.MANAGE_MEMBERS),
        Case.page("get", "/o/{org}/tokens/", Action.VIEW),
        Case.page("get", "/o/{org}/tokens/new/", Action.CREATE_OWN_TOKEN),
        Case.page("get", "/o/{org}/audit/", Action.READ_AUDIT),
        Case.page("post", "/o/{org}/environments/new/", Action.MANAGE_ENVIRONMENTS, body={"slug": "qa", "name": "QA"}),
        Case.page("post", "/o/{org}/environments/staging/edit/", Action.MANAGE_ENVIRONMENTS, body={"name": "Renamed"}),
        Case.page("post", "/o/{org}/environments/staging/delete/", Action.MANAGE_ENVIRONMENTS),
        Case.page("post", "/o/{org}/members/add/", Action.MANAGE_MEMBERS,
                  body={"email": "new@example.com", "role": "viewer"}),
        Case.page("post", "/o/{org}/members/{member}/role/", Action.MANAGE_MEMBERS, body={"role": "admin"}),
        Case.page("post", "/o/{org}/members/{member}/remove/", Action.MANAGE_MEMBERS),
        Case.page("get", "/o/{org}/invitations/{invitation}/resend/", Action.MANAGE_MEMBERS),
        Case.page("post", "/o/{org}/invitations/{invitation}/resend/", Action.MANAGE_MEMBERS),
        Case.page("post", "/o/{org}/invitations/{invitation}/revoke/", Action.MANAGE_MEMBERS),
        Case.page("post", "/o/{org}/tokens/new/", Action.CREATE_OWN_TOKEN, body={"name": "ci-{role}"}, ok=200),
        Case.page("post", "/o/{org}/alerts/{alert}/dismiss/", Action.TEST_CONNECTION),
    ]  # fmt: skip

    def objects(self, org: Organization) -> dict[str, Any]:
        viewer = org.memberships.filter(role=RoleChoices.VIEWER).first()
        member = viewer or Membership.objects.get(org=org, user=make_member(org, RoleChoices.VIEWER))
        alert = Notification.objects.create(org=org, title=f"Connection of {org.slug} is failing its check")
        return {"member": member.pk, "alert": alert.pk, "invitation": make_invitation(org).pk}

    def snapshot(self, org: Organization) -> tuple:
        return (
            sorted(Environment.objects.filter(org=org).values_list("slug", "name")),
            sorted(Membership.objects.filter(org=org).values_list("user__email", "role")),
            sorted(User.objects.values_list("email", flat=True)),
            sorted(APIToken.objects.filter(org=org).values_list("name", "revoked_at")),
            sorted(Notification.objects.filter(org=org).values_list("pk", "dismissed_at")),
            sorted(Invitation.objects.filter(org=org).values_list("email", "role", "revoked_at", "sent_at")),
            AuditEvent.objects.filter(org=org).exclude(action="permission.denied").count(),  # denials are recorded
        )


def test_forbidden_page_uses_the_friendly_template(client_as, org, members):
    response = client_as("viewer").get(url("audit_list"))
    assert response.status_code == 403
    assert "do that here" in text(response)
    assert "read_audit" in text(response)
    assert "Back to Acme" in text(response)


def test_unknown_objects_and_other_organizations_tokens_answer_404(client_as, org, members, other_org):
    """What the matrix does not cover: objects that do not exist, and a token (tokens are their owner's,
    not a role's) of another organization under our own."""
    client = client_as("admin")
    outsider = Membership.objects.get(org=other_org)
    token, _ = services.do_create_token(other_org, actor=outsider.user, name="theirs")
    for path in (url("token_revoke", pk=token.pk), url("environment_edit", env_slug="does-not-exist")):
        assert client.get(path).status_code == 404, path
    assert "Page not found" in text(client.get(url("org_home", "globex")))


def test_anonymous_users_are_sent_to_login_from_home(client, org):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


# --- What each role sees --------------------------------------------------------------------------


def test_navigation_shows_only_what_the_role_allows(client_as, org, members):
    viewer_page = text(client_as("viewer").get(url("org_home")))
    admin_page = text(client_as("admin").get(url("org_home")))
    for page in (viewer_page, admin_page):
        assert f'href="{url("environment_list")}"' in page
        assert f'href="{url("member_list")}"' in page
        assert f'href="{url("token_list")}"' in page
        assert 'href="/api/docs/"' in page
    assert f'href="{url("audit_list")}"' not in viewer_page
    assert f'href="{url("audit_list")}"' in admin_page
    assert 'aria-current="page"' in admin_page


def test_viewer_sees_environments_without_controls(client_as, org, members):
    page = text(client_as("viewer").get(url("environment_list")))
    assert "Staging" in page and "production" in page
    assert url("environment_create") not in page
    assert url("environment_edit", env_slug="staging") not in page
    assert url("environment_delete", env_slug="staging") not in page


def test_admin_sees_environment_controls(client_as, org, members):
    page = text(client_as("admin").get(url("environment_list")))
    assert f'action="{url("environment_create")}"' in page
    assert url("environment_edit", env_slug="staging") in page
    assert url("environment_delete", env_slug="staging") in page


def test_viewer_sees_members_and_roles_without_controls(client_as, org, members):
    page = text(client_as("viewer").get(url("member_list")))
    for role, user in members.items():
        assert user.email in page
    assert "Provisioner" in page
    assert url("member_add") not in page
    assert "/role/" not in page and "/remove/" not in page


def test_admin_sees_member_controls(client_as, org, members):
    page = text(client_as("admin").get(url("member_list")))
    viewer = Membership.objects.get(org=org, user=members["viewer"])
    assert f'action="{url("member_add")}"' in page
    assert f'action="{url("member_role", pk=viewer.pk)}"' in page
    assert url("member_remove", pk=viewer.pk) in page


def test_org_home_shows_overview_and_recent_audit_for_admins_only(client_as, org, members, add_audit_events):
    add_audit_events(12)
    admin_page = text(client_as("admin").get(url("org_home")))
    viewer_page = text(client_as("viewer").get(url("org_home")))
    for page in (admin_page, viewer_page):
        assert "Acme" in page and "Enterprise" in page
        assert "development" in page and "staging" in page and "production" in page
        assert f'href="{url("member_list")}">4</a>' in page
    assert "Admin</span></dd>" in admin_page and "Viewer</span></dd>" in viewer_page
    assert "Recent activity" in admin_page and "Recent activity" not in viewer_page
    assert "thing-11" in admin_page and "thing-1<" not in admin_page  # only the last 10
    assert "thing-" not in viewer_page


# --- Home and switcher ----------------------------------------------------------------------------


def test_home_redirects_a_member_of_one_organization(client_as, org, members):
    response = client_as("viewer").get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == url("org_home")


def test_home_lists_several_organizations_and_the_switcher_shows_them(client, org, other_org):
    user = make_member(org, RoleChoices.ADMIN, email="both@example.com")
    Membership.objects.create(user=user, org=other_org, role=RoleChoices.VIEWER)
    client.force_login(user)
    page = text(client.get(reverse("home")))
    assert url("org_home") in page and url("org_home", "globex") in page
    org_page = text(client.get(url("org_home", "globex")))
    switcher = org_page.split('class="menu org-switcher"')[1].split("</details>")[0]
    assert "Acme" in switcher and "Globex" in switcher
    assert "Viewer" in switcher and "Admin" in switcher
    assert 'aria-current="true"' in switcher


def test_home_without_any_organization(client, db):
    user = User.objects.create_user(email="lonely@example.com", password=PASSWORD)
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert "not in any organization yet" in text(response)


# --- Login, logout, lockout, password reset --------------------------------------------------------


def test_login_form_uses_email_and_signs_in(client, org, members):
    page = text(client.get(reverse("login")))
    assert '<label for="id_username">Email</label>' in page
    assert 'type="email"' in page
    response = client.post(reverse("login"), {"username": "ADMIN@acme.test", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get(reverse("home"))["Location"] == url("org_home")


def test_login_error_is_shown(client, org, members):
    response = client.post(reverse("login"), {"username": "admin@acme.test", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct email" in text(response)


def test_logout_is_a_post_form(client_as, org, members):
    client = client_as("viewer")
    page = text(client.get(url("org_home")))
    assert f'<form method="post" action="{reverse("logout")}">' in page
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"), follow=True)
    assert "You have been signed out." in text(response)
    assert client.get(url("org_home")).status_code == 302


def test_password_reset_reaches_invited_members(client, org, members):
    services.do_add_member(org, actor=members["admin"], email="invited@example.com", role="viewer")
    response = client.post(reverse("password_reset"), {"email": "invited@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in text(form_page)
    new_password = "a-brand-new-secret-42"
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password})
    assert done["Location"] == reverse("password_reset_complete")
    assert User.objects.get(email="invited@example.com").check_password(new_password)


def test_csrf_is_enforced_on_page_forms(org, members):
    client = Client(enforce_csrf_checks=True)
    client.force_login(members["admin"])
    response = client.post(url("environment_create"), {"slug": "qa"})
    assert response.status_code == 403
    assert not Environment.objects.filter(org=org, slug="qa").exists()


# --- Environments ---------------------------------------------------------------------------------


def test_admin_creates_edits_and_deletes_an_environment(client_as, org, members):
    client = client_as("admin")
    response = client.post(url("environment_create"), {"slug": "qa", "name": "QA", "description": "Testing"})
    assert response.status_code == 302 and response["Location"] == url("environment_list")
    env = Environment.objects.get(org=org, slug="qa")
    assert (env.name, env.description) == ("QA", "Testing")
    created = events(org, AuditAction.ENVIRONMENT_CREATED)
    assert len(created) == 1 and created[0].actor_user == members["admin"] and created[0].environment == "qa"
    assert created[0].request_id  # the page request's id reached the audit row
    assert "Environment “QA” created." in text(client.get(url("environment_list")))

    edit_page = text(client.get(url("environment_edit", env_slug="qa")))
    assert 'value="QA"' in edit_page
    response = client.post(url("environment_edit", env_slug="qa"), {"name": "Quality", "description": ""})
    assert response.status_code == 302
    env.refresh_from_db()
    assert (env.name, env.description) == ("Quality", "")
    updated = events(org, AuditAction.ENVIRONMENT_UPDATED)
    assert updated[0].details["changes"]["name"] == {"old": "QA", "new": "Quality"}

    confirm = client.get(url("environment_delete", env_slug="qa"))
    assert confirm.status_code == 200 and "Delete environment Quality?" in text(confirm)
    assert Environment.objects.filter(pk=env.pk).exists()  # GET never deletes
    response = client.post(url("environment_delete", env_slug="qa"))
    assert response.status_code == 302
    assert not Environment.objects.filter(pk=env.pk).exists()
    assert len(events(org, AuditAction.ENVIRONMENT_DELETED)) == 1


def test_environment_errors_are_shown_next_to_the_field(client_as, org, members):
    client = client_as("admin")
    response = client.post(url("environment_create"), {"slug": "staging", "name": "Again"})
    assert response.status_code == 200
    page = text(response)
    assert "An environment &#x27;staging&#x27; already exists in acme." in page
    assert 'aria-invalid="true"' in page
    assert re.search(r'<input[^>]*id="id_slug"[^>]*aria-describedby="id_slug_helptext id_slug_error"', page) or (
        'aria-describedby="id_slug_helptext id_slug_error"' in page
    )
    assert 'id="id_slug_error"' in page
    response = client.post(url("environment_create"), {"slug": "Not Valid!"})
    assert "Use lowercase letters" in text(response)
    assert Environment.objects.filter(org=org).count() == 3
    assert not events(org, AuditAction.ENVIRONMENT_CREATED)


def test_audit_write_failure_is_reported_and_nothing_changes(client_as, org, members, monkeypatch):
    def broken(**kwargs):
        raise AuditWriteError()

    monkeypatch.setattr(services, "record_event", broken)
    response = client_as("admin").post(url("environment_create"), {"slug": "qa"})
    assert response.status_code == 200
    assert "could not be recorded" in text(response)
    assert not Environment.objects.filter(org=org, slug="qa").exists()


# --- Members --------------------------------------------------------------------------------------


def test_admin_adds_changes_and_removes_a_member(client_as, org, members):
    client = client_as("admin")
    response = client.post(url("member_add"), {"email": "New.Person@Example.com", "role": "user"})
    assert response.status_code == 302
    assert events(org, AuditAction.INVITATION_SENT)
    invitation = Invitation.objects.get(org=org, email="new.person@example.com")
    services.do_accept_invitation(invitation.link_token(), password="A-new-password-123")
    membership = Membership.objects.get(org=org, user__email="new.person@example.com")
    assert membership.role == RoleChoices.USER

    response = client.post(url("member_role", pk=membership.pk), {"role": "provisioner"})
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == RoleChoices.PROVISIONER
    assert "is now Provisioner" in text(client.get(url("member_list")))

    assert "Remove new.person@example.com from Acme?" in text(client.get(url("member_remove", pk=membership.pk)))
    response = client.post(url("member_remove", pk=membership.pk))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert events(org, AuditAction.MEMBER_REMOVED)


def test_adding_an_existing_member_is_a_field_error(client_as, org, members):
    response = client_as("admin").post(url("member_add"), {"email": "viewer@acme.test", "role": "user"})
    assert response.status_code == 200
    assert "viewer@acme.test is already a member of acme." in text(response)
    assert 'id="id_email_error"' in text(response)


def test_last_admin_cannot_be_demoted_or_removed(client_as, org, members):
    client = client_as("admin")
    admin = Membership.objects.get(org=org, user=members["admin"])
    response = client.post(url("member_role", pk=admin.pk), {"role": "viewer"})
    assert response.status_code == 200
    page = text(response)
    assert "An organization must keep at least one admin." in page
    assert 'id="id_role_error"' in page
    admin.refresh_from_db()
    assert admin.role == RoleChoices.ADMIN

    response = client.post(url("member_remove", pk=admin.pk))
    assert response.status_code == 200
    assert "An organization must keep at least one admin." in text(response)
    assert Membership.objects.filter(pk=admin.pk).exists()


# --- API tokens -----------------------------------------------------------------------------------


def test_token_value_is_shown_once(client_as, org, members):
    client = client_as("viewer")
    expiry = (timezone.now() + dt.timedelta(days=30)).date()
    response = client.post(url("token_create"), {"name": "ci", "role_cap": "", "expires_at": expiry.isoformat()})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    value = re.search(r'<code id="token-value">([^<]+)</code>', text(response)).group(1)
    token = APIToken.objects.get(org=org, name="ci")
    assert token.key_hash == hash_token(value) and token.user == members["viewer"]
    assert token.expires_at == dt.datetime.combine(expiry + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)

    listing = text(client.get(url("token_list")))
    assert "ci" in listing and token.prefix in listing
    assert value not in listing
    assert all(value not in str(e.details) for e in AuditEvent.objects.all())


def test_token_errors_and_role_caps(client_as, org, members):
    client = client_as("user")
    page = text(client.get(url("token_create")))
    assert '<option value="user">' in page and '<option value="admin">' not in page
    response = client.post(url("token_create"), {"name": "x", "role_cap": "admin"})
    assert response.status_code == 200 and "Select a valid choice" in text(response)
    yesterday = (timezone.now() - dt.timedelta(days=2)).date().isoformat()
    response = client.post(url("token_create"), {"name": "x", "expires_at": yesterday})
    assert "The expiry must be in the future." in text(response)
    assert 'id="id_expires_at_error"' in text(response)
    response = client.post(url("token_create"), {"name": "capped", "role_cap": "viewer"})
    assert response.status_code == 200
    assert APIToken.objects.get(name="capped").role_cap == "viewer"
    assert not APIToken.objects.filter(name="x").exists()


def test_members_see_their_own_tokens_and_admins_see_all(client_as, org, members):
    services.do_create_token(org, actor=members["viewer"], name="viewer-ci")
    theirs, _ = services.do_create_token(org, actor=members["user"], name="user-ci")
    viewer_page = text(client_as("viewer").get(url("token_list")))
    assert "viewer-ci" in viewer_page and "user-ci" not in viewer_page
    admin_page = text(client_as("admin").get(url("token_list")))
    assert "viewer-ci" in admin_page and "user-ci" in admin_page
    assert "user@acme.test" in admin_page and ">Owner<" in admin_page
    # A member cannot reach someone else's token; an admin can revoke it.
    assert client_as("viewer").post(url("token_revoke", pk=theirs.pk)).status_code == 404
    assert client_as("admin").post(url("token_revoke", pk=theirs.pk)).status_code == 302
    theirs.refresh_from_db()
    assert theirs.revoked_at is not None


def test_member_revokes_own_token_after_confirmation(client_as, org, members):
    token, _ = services.do_create_token(org, actor=members["viewer"], name="mine")
    client = client_as("viewer")
    assert "Revoke token “mine”?" in text(client.get(url("token_revoke", pk=token.pk)))
    token.refresh_from_db()
    assert token.revoked_at is None
    response = client.post(url("token_revoke", pk=token.pk))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "Revoked" in text(client.get(url("token_list")))
    assert len(events(org, AuditAction.TOKEN_REVOKED)) == 1


# --- Audit trail ----------------------------------------------------------------------------------


def test_audit_page_shows_event_columns(client_as, org, members):
    client = client_as("admin")
    client.post(url("environment_create"), {"slug": "qa"}, HTTP_X_REQUEST_ID="req-12345678")
    page = text(client.get(url("audit_list")))
    assert "environment.created" in page
    assert "admin@acme.test" in page
    assert "acme/qa" in page
    assert "req-12345678" in page
    assert "127.0.0.1" in page


def test_audit_filters_narrow_the_rows(client_as, org, members, add_audit_events):
    add_audit_events(3, actor=members["admin"], action="environment.updated", environment="staging")
    add_audit_events(2, actor=members["provisioner"], action="member.added", environment="production")
    client = client_as("admin")

    def rows(**params) -> int:
        return body_rows(text(client.get(url("audit_list"), params)))

    assert rows() == 5
    assert rows(actor="provisioner@") == 2
    assert rows(action="environment.updated") == 3
    assert rows(action="member.") == 2
    assert rows(environment="staging") == 3
    assert rows(target="thing-0") == 2
    assert rows(actor="admin@", environment="production") == 0
    today = timezone.now().date()
    assert rows(since=today.isoformat(), until=today.isoformat()) == 5
    assert rows(until=(today - dt.timedelta(days=1)).isoformat()) == 0
    assert rows(since=(today + dt.timedelta(days=1)).isoformat()) == 0


@pytest.mark.parametrize(
    "params", [{"since": "notadate"}, {"until": "2024-13-45"}, {"page": "abc"}, {"page": "999"}, {"since": ""}]
)
def test_audit_page_survives_bad_input(client_as, org, members, add_audit_events, params):
    add_audit_events(2)
    response = client_as("admin").get(url("audit_list"), params)
    assert response.status_code == 200
    if params.get("since") == "notadate" or "until" in params:
        assert "Enter a valid date." in text(response)
        assert "Correct the filters above" in text(response)


def test_audit_pagination_keeps_the_filters(client_as, org, members, add_audit_events):
    add_audit_events(60, action="connection.tested")
    add_audit_events(5, actor=members["provisioner"], action="connection.created")
    client = client_as("admin")
    page = text(client.get(url("audit_list"), {"action": "connection.tested"}))
    assert body_rows(page) == 50
    assert "Page 1 of 2" in page and "60 events" in page
    assert 'href="?action=connection.tested&amp;page=2"' in page
    assert "provisioner@acme.test" not in page  # the newest events (another action) are filtered out
    second = text(client.get(url("audit_list"), {"action": "connection.tested", "page": 2}))
    assert body_rows(second) == 10
    assert '<option value="connection.tested" selected>' in second  # the filter form keeps its state


def test_audit_action_filter_offers_every_action_grouped(client_as, org, members):
    page = text(client_as("admin").get(url("audit_list")))
    for action in AuditAction.values:
        assert f'<option value="{action}">' in page
    assert '<optgroup label="Connection">' in page and '<option value="connection.">' in page


def test_audit_action_filter_refuses_an_unknown_action(client_as, org, members, add_audit_events):
    add_audit_events(2)
    page = text(client_as("admin").get(url("audit_list"), {"action": "no.such"}))
    assert "Select a valid choice." in page and body_rows(page) == 0


def test_audit_rows_fold_their_details(client_as, org, members):
    client = client_as("admin")
    client.post(url("environment_create"), {"slug": "qa"}, HTTP_X_REQUEST_ID="req-12345678")
    page = text(client.get(url("audit_list")))
    assert page.count('<th scope="col">') == 4  # four columns fit a laptop screen
    assert page.count("<details>") == page.count("<tr>") - 1  # every row folds its details


# --- Query counts do not grow with rows, and long lists are paginated -----------------------------

# Admin pages: session, user, organization, role, the switcher's memberships, the open-alert count, the
# paginator's count and the rows (the members page: also the open invitations' count and rows; the audit
# trail: guardian's grant lookups and the environment suggestions).
MAX_QUERIES = {"environment_list": 8, "member_list": 10, "token_list": 9, "audit_list": 12}
PAGE_ROWS = 50  # accounts.views.TOKENS_PAGE_SIZE
MEMBER_ROWS = ENVIRONMENT_ROWS = 25


@pytest.fixture(params=[10, 1000], ids=lambda n: f"{n}-rows")
def row_count(request) -> int:
    return request.param


def test_environment_list_queries_do_not_grow(
    client_as, org, members, add_environments, row_count, django_assert_max_num_queries
):
    add_environments(row_count)
    client = client_as("admin")
    with django_assert_max_num_queries(MAX_QUERIES["environment_list"]):
        response = client.get(url("environment_list"))
    assert body_rows(text(response)) == min(row_count + 3, ENVIRONMENT_ROWS)
    assert f"{row_count + 3} environments" in text(response)


def test_member_list_queries_do_not_grow(
    client_as, org, members, add_members, row_count, django_assert_max_num_queries
):
    add_members(row_count)
    for i in range(row_count // 10):
        make_invitation(org, email=f"invited-{i:03d}@example.com")
    client = client_as("admin")
    with django_assert_max_num_queries(MAX_QUERIES["member_list"]):
        response = client.get(url("member_list"))
    page = text(response)
    assert body_rows(page) == min(row_count + 4, MEMBER_ROWS)
    assert f"{row_count + 4} members" in page


def test_token_list_queries_do_not_grow(client_as, org, members, row_count, django_assert_max_num_queries):
    APIToken.objects.bulk_create(
        APIToken(org=org, user=members["admin"], name=f"t{i}", prefix=f"p{i:05d}", key_hash=f"h{i}")
        for i in range(row_count)
    )
    client = client_as("admin")
    with django_assert_max_num_queries(MAX_QUERIES["token_list"]):
        response = client.get(url("token_list"))
    assert body_rows(text(response)) == min(row_count, PAGE_ROWS)


def test_audit_page_queries_do_not_grow(
    client_as, org, members, add_audit_events, row_count, django_assert_max_num_queries
):
    add_audit_events(min(row_count, 100))  # the audit writer chains one event at a time
    client = client_as("admin")
    with django_assert_max_num_queries(MAX_QUERIES["audit_list"]):
        response = client.get(url("audit_list"))
    assert body_rows(text(response)) == min(row_count, 50)


def page_links(page: str) -> list[str]:
    """The hrefs of the pagination links (First, Previous, Next, Last), HTML-unescaped."""
    nav = re.search(r'<nav class="pagination".*?</nav>', page, re.S)
    return [html.unescape(href) for href in re.findall(r'href="([^"]*)"', nav.group(0))] if nav else []


def test_member_pages_walk_every_member_once(client_as, org, members, add_members):
    add_members(120)
    client = client_as("admin")
    pages = [
        set(re.findall(r"bulk-\d{4}@acme\.test", text(client.get(url("member_list"), {"page": number}))))
        for number in (1, 2, 3, 4, 5)
    ]
    # By e-mail: admin@ sorts before bulk-*, provisioner@, user@ and viewer@ after them.
    assert [len(page) for page in pages] == [24, 25, 25, 25, 21]
    assert len(set().union(*pages)) == 120


@pytest.mark.parametrize("page", ["abc", "0", "-1", "999", "1.5", ""])
def test_a_bad_page_number_gives_a_page_not_an_error(client_as, org, members, add_members, page):
    add_members(60)
    response = client_as("admin").get(url("member_list"), {"page": page})
    assert response.status_code == 200
    assert body_rows(text(response)) in (25, 14)  # the first page, or the last for a number past the end


def test_member_and_invitation_lists_page_separately(client_as, org, members, add_members):
    """The invitations' links carry the members' page (and the reverse): paging one keeps the other."""
    add_members(60)
    for i in range(30):  # two pages of 25
        make_invitation(org, email=f"invited-{i:03d}@example.com")
    page = text(client_as("admin").get(url("member_list"), {"page": 2, "inv_page": 1}))
    links = page_links(page)
    assert "?page=1&inv_page=1#member-list-heading" in links  # members: First, keeping inv_page
    invitations = page[page.index('id="invitation-list-heading"') :]
    assert "?page=2&inv_page=2#invitation-list-heading" in page_links(invitations)  # invitations: Next


def test_environment_page_links_keep_other_parameters(client_as, org, members, add_environments):
    add_environments(120)  # five pages
    page = text(client_as("admin").get(url("environment_list"), {"page": 2, "sort": "name"}))
    assert "?page=3&sort=name#env-list-heading" in page_links(page)
    assert "?page=1&sort=name#env-list-heading" in page_links(page)


# --- Template tags --------------------------------------------------------------------------------


def test_member_rows_select_each_members_own_role(client_as, org, members):
    page = text(client_as("admin").get(url("member_list")))
    for role, user in members.items():
        pk = Membership.objects.get(org=org, user=user).pk
        select = re.search(rf'<select id="role-{pk}" name="role">(.*?)</select>', page, re.S).group(1)
        assert re.findall(r"<option [^>]*selected", select) == [f'<option value="{role}" selected']
        assert select.count("<option") == 4


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_the_members_page_marks_the_viewer_and_links_each_row(client_as, org, members, role):
    page = text(client_as(role).get(url("member_list")))
    rows = dict(re.findall(r"<td>\s*([a-z]+@acme\.test)(.*?)</tr>", page, re.S))
    assert [email for email, row in rows.items() if "(you)" in row.split("</td>")[0]] == [members[role].email]
    for email, row in rows.items():
        membership = Membership.objects.get(org=org, user__email=email)
        links = (url("member_role", pk=membership.pk), url("member_remove", pk=membership.pk))
        assert all((link in row) == (role == "admin") for link in links), email
        assert f'<time datetime="{membership.created_at.isoformat()}">{membership.created_at:%Y-%m-%d}</time>' in row
