"""Accounts API (accounts/api/): the role table and tenant isolation, tokens, the audit trail, bad input, organizations,
members, query counts, the schema and the API root."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts import services
from accounts.choices import RoleChoices
from accounts.models import (
    APIToken,
    AuditEvent,
    Environment,
    Invitation,
    Membership,
    Notification,
    Organization,
    User,
)
from accounts.policy import Action
from tests.accounts.conftest import issue_token, token_client
from tests.conftest import PASSWORD, make_member
from tests.permissions import Case, PermissionMatrix

pytestmark = pytest.mark.django_db


# --- The role table through the API, and tenant isolation (the shared permission matrix) -------------


class TestRoleTable(PermissionMatrix):
    """Organizations, environments, members, tokens, the audit trail and alerts: every role, another
    organization's objects (404), an outsider (404), anonymous; a refused request changes nothing."""

    refused_before_lookup = frozenset({"member", "alert", "invitation"})
    cases = [
        Case.api("get", "/api/v1/orgs/{org}/", Action.VIEW),
        Case.api("patch", "/api/v1/orgs/{org}/", Action.MANAGE_PLAN, body={"name": "Renamed by {role}"}),
        Case.api("get", "/api/v1/orgs/{org}/environments/", Action.VIEW),
        Case.api("get", "/api/v1/orgs/{org}/environments/staging/", Action.VIEW),
        Case.api("post", "/api/v1/orgs/{org}/environments/", Action.MANAGE_ENVIRONMENTS,
                 body={"slug": "qa-{role}", "name": "QA"}),
        Case.api("patch", "/api/v1/orgs/{org}/environments/staging/", Action.MANAGE_ENVIRONMENTS,
                 body={"name": "Stage"}),
        Case.api("delete", "/api/v1/orgs/{org}/environments/development/", Action.MANAGE_ENVIRONMENTS),
        Case.api("get", "/api/v1/orgs/{org}/members/", Action.VIEW),
        Case.api("post", "/api/v1/orgs/{org}/members/", Action.MANAGE_MEMBERS, ok=202,
                 body={"email": "new-{role}@example.com", "role": "viewer"}),
        Case.api("patch", "/api/v1/orgs/{org}/members/{member}/", Action.MANAGE_MEMBERS, body={"role": "user"}),
        Case.api("delete", "/api/v1/orgs/{org}/members/{member}/", Action.MANAGE_MEMBERS),
        Case.api("get", "/api/v1/orgs/{org}/invitations/", Action.MANAGE_MEMBERS),
        Case.api("post", "/api/v1/orgs/{org}/invitations/", Action.MANAGE_MEMBERS, ok=202,
                 body={"email": "inv-{role}@example.com", "role": "user"}),
        Case.api("post", "/api/v1/orgs/{org}/invitations/{invitation}/resend/", Action.MANAGE_MEMBERS, ok=200),
        Case.api("delete", "/api/v1/orgs/{org}/invitations/{invitation}/", Action.MANAGE_MEMBERS, ok=200),
        Case.api("get", "/api/v1/orgs/{org}/audit/", Action.READ_AUDIT),
        Case.api("get", "/api/v1/orgs/{org}/tokens/", Action.VIEW),
        Case.api("post", "/api/v1/orgs/{org}/tokens/", Action.CREATE_OWN_TOKEN, body={"name": "ci"}),
        Case.api("get", "/api/v1/orgs/{org}/notifications/", Action.VIEW),
        Case.api("post", "/api/v1/orgs/{org}/notifications/{alert}/dismiss/", Action.TEST_CONNECTION, ok=200),
    ]  # fmt: skip

    def objects(self, org: Organization) -> dict[str, Any]:
        viewer = org.memberships.filter(role=RoleChoices.VIEWER).first()
        member = viewer.user if viewer else make_member(org, RoleChoices.VIEWER)
        alert = Notification.objects.create(org=org, title=f"Connection of {org.slug} is failing its check")
        return {"member": member.email, "alert": alert.pk, "invitation": make_invitation(org).pk}

    def snapshot(self, org: Organization) -> tuple:
        return (
            Organization.objects.filter(pk=org.pk).values_list("plan", "name").get(),
            sorted(Invitation.objects.filter(org=org).values_list("email", "role", "revoked_at", "sent_at")),
            sorted(Environment.objects.filter(org=org).values_list("slug", "name")),
            sorted(Membership.objects.filter(org=org).values_list("user__email", "role")),
            sorted(APIToken.objects.filter(org=org).values_list("name", "revoked_at")),
            sorted(Notification.objects.filter(org=org).values_list("pk", "dismissed_at")),
            AuditEvent.objects.filter(org=org).exclude(action="permission.denied").count(),  # denials are recorded
        )


def make_invitation(org: Organization, email: str = "") -> Invitation:
    """An open invitation in `org`, as do_invite_member leaves it (without sending mail)."""
    invitation = Invitation(org=org, email=email or f"invited@{org.slug}.test", role=RoleChoices.VIEWER)
    services._arm_invitation(invitation)
    invitation.save()
    return invitation


def test_org_list_shows_only_own_orgs(api_as, other_org):
    slugs = [o["slug"] for o in api_as("viewer").get("/api/v1/orgs/").json()["results"]]
    assert slugs == ["acme"]


def test_token_is_scoped_to_its_org(members, org, other_org):
    admin = members["admin"]
    Membership.objects.create(user=admin, org=other_org, role="admin")
    client = token_client(issue_token(admin, org))
    assert client.get("/api/v1/orgs/acme/environments/").status_code == 200
    assert client.get("/api/v1/orgs/globex/environments/").status_code == 404
    assert [o["slug"] for o in client.get("/api/v1/orgs/").json()["results"]] == ["acme"]


# --- Tokens ---------------------------------------------------------------------------------------


def test_login_token_endpoint_returns_value_once(api, members, org):
    response = api.post(
        "/api/v1/auth/token/", {"email": "ADMIN@acme.test", "password": PASSWORD, "org": "acme", "name": "ci"}
    )
    assert response.status_code == 201, response.content
    value = response.json()["token"]
    token = APIToken.objects.get()
    assert token.key_hash != value and value not in token.key_hash and token.prefix == value[:12]
    listed = token_client(value).get("/api/v1/orgs/acme/tokens/").json()
    assert listed["results"][0]["name"] == "ci"
    assert value not in str(listed)
    me = token_client(value).get("/api/v1/me").json()
    assert me["email"] == "admin@acme.test" and me["token"]["name"] == "ci"
    assert APIToken.objects.get().last_used_at is not None


def test_login_token_errors(api, members, org, other_org):
    wrong = api.post("/api/v1/auth/token/", {"email": "admin@acme.test", "password": "nope", "org": "acme"})
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "Invalid email or password."
    not_member = api.post("/api/v1/auth/token/", {"email": "admin@acme.test", "password": PASSWORD, "org": "globex"})
    assert not_member.status_code == 400 and "org" in not_member.json()["error"]["fields"]
    missing = api.post("/api/v1/auth/token/", {})
    assert missing.status_code == 400
    assert set(missing.json()["error"]["fields"]) == {"email", "password", "org"}


def test_capped_token_cannot_exceed_its_cap(members, org):
    capped = token_client(issue_token(members["admin"], org, role_cap="viewer"))
    assert capped.get("/api/v1/orgs/acme/environments/").status_code == 200
    assert capped.post("/api/v1/orgs/acme/environments/", {"slug": "qa"}).status_code == 403
    assert capped.get("/api/v1/orgs/acme/audit/").status_code == 403
    assert capped.get("/api/v1/orgs/acme/").json()["role"] == "viewer"
    # It cannot mint a stronger token, and an uncapped request inherits its cap.
    stronger = capped.post("/api/v1/orgs/acme/tokens/", {"name": "x", "role_cap": "admin"})
    assert stronger.status_code == 400 and "role_cap" in stronger.json()["error"]["fields"]
    child = capped.post("/api/v1/orgs/acme/tokens/", {"name": "child"})
    assert child.status_code == 201 and child.json()["role_cap"] == "viewer"
    assert (
        token_client(child.json()["token"]).post("/api/v1/orgs/acme/environments/", {"slug": "qa"}).status_code == 403
    )


def test_token_cap_above_own_role_is_refused(api_as):
    response = api_as("user").post("/api/v1/orgs/acme/tokens/", {"name": "x", "role_cap": "admin"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["role_cap"] == ["A token cannot have more than your role (user)."]


def test_token_follows_a_lowered_membership(members, org, api_as):
    client = token_client(issue_token(members["admin"], org))
    assert client.post("/api/v1/orgs/acme/environments/", {"slug": "qa"}).status_code == 201
    services.do_add_member(org, actor=members["admin"], email="second-admin@acme.test", role="admin")
    second = Membership.objects.get(user__email="second-admin@acme.test")
    services.do_change_member_role(
        Membership.objects.get(user=members["admin"], org=org), actor=second.user, role="viewer"
    )
    assert client.post("/api/v1/orgs/acme/environments/", {"slug": "qa2"}).status_code == 403


def test_members_see_only_their_own_tokens_admins_see_all(members, org, api_as):
    issue_token(members["user"], org, name="user-token")
    issue_token(members["viewer"], org, name="viewer-token")
    assert [t["name"] for t in api_as("user").get("/api/v1/orgs/acme/tokens/").json()["results"]] == ["user-token"]
    names = {t["name"] for t in api_as("admin").get("/api/v1/orgs/acme/tokens/").json()["results"]}
    assert names == {"user-token", "viewer-token"}
    other = APIToken.objects.get(name="viewer-token")
    assert api_as("user").delete(f"/api/v1/orgs/acme/tokens/{other.pk}/").status_code == 404
    assert api_as("admin").delete(f"/api/v1/orgs/acme/tokens/{other.pk}/").status_code == 200


def test_removing_a_member_revokes_their_tokens(members, org, api_as):
    value = issue_token(members["user"], org)
    assert api_as("admin").delete("/api/v1/orgs/acme/members/user@acme.test/").status_code == 204
    assert token_client(value).get("/api/v1/orgs/acme/").status_code == 401


def test_last_admin_cannot_be_demoted_or_removed(api_as, org, members):
    demote = api_as("admin").patch("/api/v1/orgs/acme/members/admin@acme.test/", {"role": "viewer"})
    assert demote.status_code == 400
    assert demote.json()["error"]["fields"]["role"] == ["An organization must keep at least one admin."]
    remove = api_as("admin").delete("/api/v1/orgs/acme/members/admin@acme.test/")
    assert remove.status_code == 400
    assert Membership.objects.get(user=members["admin"]).role == "admin"


# --- Audit trail ----------------------------------------------------------------------------------


def test_audit_filters(api_as, org, members):
    admin = api_as("admin")
    admin.post("/api/v1/orgs/acme/environments/", {"slug": "qa"})
    admin.post("/api/v1/orgs/acme/members/", {"email": "x@example.com", "role": "user"})
    admin.delete("/api/v1/orgs/acme/environments/qa/")

    def actions(query: str) -> list[str]:
        response = admin.get(f"/api/v1/orgs/acme/audit/?{query}")
        assert response.status_code == 200, response.content
        return [e["action"] for e in response.json()["results"]]

    assert actions("action=environment.") == ["environment.deleted", "environment.created"]
    assert actions("action=invitation.sent") == ["invitation.sent"]
    assert actions("target=x@example.com") == ["invitation.sent"]
    assert actions("actor=admin@acme") == ["environment.deleted", "invitation.sent", "environment.created"]
    assert actions("actor=viewer") == []
    assert actions("environment=qa") == ["environment.deleted", "environment.created"]
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert actions(f"since={tomorrow}") == []
    assert len(actions(f"until={tomorrow}")) == 3
    bad = admin.get("/api/v1/orgs/acme/audit/?since=yesterday")
    assert bad.status_code == 400 and "since" in bad.json()["error"]["fields"]


# --- Bad input: 400 with field messages, never 500 -------------------------------------------------

BAD_INPUT = [
    ("post", "/api/v1/orgs/acme/environments/", {"slug": "Bad Slug!"}, "slug"),
    ("post", "/api/v1/orgs/acme/environments/", {"slug": "x" * 70}, "slug"),
    ("post", "/api/v1/orgs/acme/environments/", {"slug": "staging"}, "slug"),
    ("post", "/api/v1/orgs/acme/environments/", {}, "slug"),
    ("post", "/api/v1/orgs/acme/environments/", {"slug": ["a"]}, "slug"),
    ("patch", "/api/v1/orgs/acme/environments/staging/", {"name": "x" * 101}, "name"),
    ("post", "/api/v1/orgs/acme/members/", {"email": "not-an-email", "role": "viewer"}, "email"),
    ("post", "/api/v1/orgs/acme/members/", {"email": "a@b.co", "role": "king"}, "role"),
    ("post", "/api/v1/orgs/acme/members/", {"email": "viewer@acme.test", "role": "viewer"}, "email"),
    ("patch", "/api/v1/orgs/acme/members/viewer@acme.test/", {"role": ""}, "role"),
    ("post", "/api/v1/orgs/acme/tokens/", {"name": ""}, "name"),
    ("post", "/api/v1/orgs/acme/tokens/", {"name": "x", "expires_at": "soon"}, "expires_at"),
    ("post", "/api/v1/orgs/acme/tokens/", {"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ("post", "/api/v1/orgs/acme/tokens/", {"name": "x", "role_cap": "root"}, "role_cap"),
    ("patch", "/api/v1/orgs/acme/", {"plan": "platinum"}, "plan"),
    ("post", "/api/v1/orgs/", {"slug": "acme", "name": "Again"}, "slug"),
    ("post", "/api/v1/orgs/", {"slug": "-bad-", "name": "Bad"}, "slug"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD_INPUT)
def test_bad_input_gets_field_errors(api_as, members, method, path, body, field):
    response = getattr(api_as("admin"), method)(path, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"], error
    assert all(isinstance(m, str) and m for m in error["fields"][field])


# --- Organizations, members, pagination ----------------------------------------------------------


def test_create_org_makes_creator_admin(api_as, members):
    response = api_as("viewer").post("/api/v1/orgs/", {"slug": "initech", "name": "Initech"})
    assert response.status_code == 201, response.content
    assert response.json() == {**response.json(), "slug": "initech", "plan": "free", "role": "admin"}


def test_token_cannot_create_org(members, org):
    client = token_client(issue_token(members["admin"], org))
    assert client.post("/api/v1/orgs/", {"slug": "other", "name": "Other"}).status_code == 403


def test_add_member_is_an_invitation_and_creates_no_account(api_as, org):
    response = api_as("admin").post("/api/v1/orgs/acme/members/", {"email": "New.Person@Example.com", "role": "user"})
    assert response.status_code == 202
    assert response.json()["email"] == "new.person@example.com" and response.json()["status"] == "pending"
    assert not Membership.objects.filter(user__email="new.person@example.com").exists()
    assert not User.objects.filter(email="new.person@example.com").exists()


@pytest.mark.parametrize("count", [10, 100])
def test_list_query_counts_are_constant(api_as, org, members, count, django_assert_max_num_queries):
    admin = members["admin"]
    for i in range(count):
        services.do_add_member(org, actor=admin, email=f"m{i}@example.com", role="viewer")
    client = api_as("admin")
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/orgs/acme/members/?page_size=500").status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/orgs/acme/audit/?page_size=500").status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/orgs/acme/environments/").status_code == 200


# --- Docs and health ------------------------------------------------------------------------------


def test_openapi_schema_and_local_swagger(client, members):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    body = schema.content.decode()
    assert "/api/v1/orgs/{org_slug}/environments/" in body and "/api/v1/auth/token/" in body
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs", "https://"):
        assert cdn not in html.replace("https://swagger.io", "")


def test_api_root_lists_the_entry_points(api):
    body = api.get("/api/v1/").json()
    assert body["organizations"].endswith("/api/v1/orgs/") and body["docs"].endswith("/api/docs/")
