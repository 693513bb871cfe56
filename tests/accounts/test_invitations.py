"""Members join by invitation: the admin learns nothing about whether an account exists (same answer,
page, mail and audit shape), the invitee accepts through the mailed link, invitations expire, can be
resent (the old link dies) and revoked, and are listed on the members page and in the API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.choices import AuditAction, RoleChoices
from accounts.models import AuditEvent, Invitation, Membership, User
from tests.accounts.test_api import make_invitation
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "A-fresh-Passw0rd-for-invitee"
_VOLATILE = re.compile(
    r"\d{4}-\d\d-\d\dT[\d:.]+Z?|\b\d{4}-\d\d-\d\d( \d\d:\d\d)?\b|csrfmiddlewaretoken\" value=\"[^\"]+\"|"
    r"/invitations/\d+/|\"id\":\d+|[0-9a-f]{64}"
)


def _normalize(text: str, email: str) -> str:
    return _VOLATILE.sub("X", text.replace(email, "EMAIL"))


def _link(message) -> str:
    return re.search(r"https?://[^/]+(/invitations/[0-9a-f]+/)", message.body).group(1)


@pytest.fixture
def someone(db) -> User:
    return User.objects.create_user(email="existing.person@example.com", password=PASSWORD, full_name="Secret Name")


def test_api_answer_is_identical_for_existing_and_unknown_accounts(api_as, org, members, someone):
    client = api_as("admin")
    answers, events = [], []
    for email in (someone.email, "nobody.here@example.com"):
        response = client.post(f"/api/v1/orgs/{org.slug}/members/", {"email": email, "role": "user"}, format="json")
        assert response.status_code == 202
        answers.append(_normalize(response.content.decode(), email))
        event = AuditEvent.objects.filter(action=AuditAction.INVITATION_SENT).order_by("-seq").first()
        events.append((event.actor_label, sorted(event.details), event.target_type, event.details["role"]))
    assert answers[0] == answers[1]
    assert events[0] == events[1]
    assert "Secret Name" not in str(answers) + str(AuditEvent.objects.values_list("details", flat=True))
    # The mails are the same words too, and no account was created for the unknown address.
    bodies = [_normalize(m.body, m.to[0]) for m in mail.outbox]
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert not User.objects.filter(email="nobody.here@example.com").exists()


def test_page_answer_is_identical_for_existing_and_unknown_accounts(client_as, org, members, someone):
    client = client_as("admin")
    pages = []
    for email in (someone.email, "nobody.here@example.com"):
        response = client.post(reverse("member_add", args=[org.slug]), {"email": email, "role": "user"}, follow=True)
        assert response.status_code == 200
        assert f"Invitation sent to {email}." in response.content.decode()
        pages.append(_normalize(response.content.decode(), email))
        Invitation.objects.all().delete()  # each answer starts from the same list
    assert pages[0] == pages[1]
    assert "Secret Name" not in pages[0]


def test_invitee_without_account_creates_it_on_accept(client, client_as, org, members):
    client_as("admin").post(reverse("member_add", args=[org.slug]), {"email": "new@example.com", "role": "user"})
    link = _link(mail.outbox[-1])
    page = client.get(link)
    assert page.status_code == 200 and "Create account and join" in page.content.decode()
    assert page["Referrer-Policy"] == "same-origin"
    weak = client.post(link, {"password": "short"})
    assert weak.status_code == 200 and not User.objects.filter(email="new@example.com").exists()
    response = client.post(link, {"full_name": "New Person", "password": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("org_home", args=[org.slug])
    user = User.objects.get(email="new@example.com")
    assert user.check_password(NEW_PASSWORD)
    assert Membership.objects.get(org=org, user=user).role == RoleChoices.USER
    accepted = AuditEvent.objects.get(action=AuditAction.INVITATION_ACCEPTED)
    assert accepted.actor_user == user and NEW_PASSWORD not in str(accepted.details)
    assert client.get(link).content.decode().count("not valid") == 1  # used once


def test_signed_in_invitee_with_matching_email_accepts(client, client_as, org, members, someone):
    client_as("admin").post(reverse("member_add", args=[org.slug]), {"email": someone.email, "role": "provisioner"})
    link = _link(mail.outbox[-1])
    # Signed out, an existing account cannot be created again: sign in.
    assert "already has" not in client.post(link, {"password": NEW_PASSWORD}).content.decode()
    assert not Membership.objects.filter(user=someone).exists()
    # Another signed-in user cannot take it.
    client.force_login(members["viewer"])
    assert "for another e-mail address" in client.get(link).content.decode()
    refused = client.post(link)
    assert refused.status_code == 200 and "for another e-mail address" in refused.content.decode()
    assert not Membership.objects.filter(user=someone).exists()
    client.force_login(someone)
    assert client.post(link).status_code == 302
    assert Membership.objects.get(org=org, user=someone).role == RoleChoices.PROVISIONER


def test_resend_replaces_the_link_and_revoke_kills_it(client, client_as, org, members):
    admin = client_as("admin")
    admin.post(reverse("member_add", args=[org.slug]), {"email": "new@example.com", "role": "user"})
    first = _link(mail.outbox[-1])
    invitation = Invitation.objects.get(email="new@example.com")
    assert admin.post(reverse("invitation_resend", args=[org.slug, invitation.pk])).status_code == 302
    second = _link(mail.outbox[-1])
    assert first != second
    assert "not valid" in client.get(first).content.decode()
    assert "Create account" in client.get(second).content.decode()
    listing = admin.get(reverse("member_list", args=[org.slug])).content.decode()
    assert "new@example.com" in listing and "Pending" in listing
    assert admin.post(reverse("invitation_revoke", args=[org.slug, invitation.pk])).status_code == 302
    assert "not valid" in client.get(second).content.decode()
    client.post(second, {"password": NEW_PASSWORD})
    assert not User.objects.filter(email="new@example.com").exists()
    events = AuditEvent.objects.filter(action__startswith="invitation.").order_by("seq")
    assert list(events.values_list("action", flat=True)) == [
        "invitation.sent", "invitation.resent", "invitation.revoked"
    ]  # fmt: skip


def test_expired_invitation_cannot_be_accepted(client, client_as, org, members, settings):
    client_as("admin").post(reverse("member_add", args=[org.slug]), {"email": "late@example.com", "role": "user"})
    link = _link(mail.outbox[-1])
    Invitation.objects.filter(email="late@example.com").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "not valid" in client.get(link).content.decode()
    client.post(link, {"password": NEW_PASSWORD})
    assert not User.objects.filter(email="late@example.com").exists()
    settings.INVITATION_EXPIRY_DAYS = 2
    services.do_resend_invitation(Invitation.objects.get(), actor=members["admin"], domain="testserver")
    days = (Invitation.objects.get().expires_at - timezone.now()).total_seconds() / 86400
    assert 1.9 < days <= 2


def test_api_lists_resends_and_revokes(api_as, org, members):
    client = api_as("admin")
    created = client.post(f"/api/v1/orgs/{org.slug}/invitations/", {"email": "a@example.com", "role": "viewer"},
                          format="json").json()  # fmt: skip
    listing = client.get(f"/api/v1/orgs/{org.slug}/invitations/?status=pending").json()
    assert [i["email"] for i in listing["results"]] == ["a@example.com"]
    assert "token" not in str(listing) and "nonce" not in str(listing)
    assert client.post(f"/api/v1/orgs/{org.slug}/invitations/{created['id']}/resend/").status_code == 200
    revoked = client.delete(f"/api/v1/orgs/{org.slug}/invitations/{created['id']}/")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    again = client.post(f"/api/v1/orgs/{org.slug}/invitations/{created['id']}/resend/")
    assert again.status_code == 400
    assert len(client.get(f"/api/v1/orgs/{org.slug}/invitations/?status=revoked").json()["results"]) == 1
    bad = client.post(f"/api/v1/orgs/{org.slug}/invitations/", {"email": "not-an-email", "role": "boss"}, format="json")
    assert bad.status_code == 400 and {"email", "role"} <= set(bad.json()["error"]["fields"])


def test_inviting_a_member_is_a_field_error(api_as, org, members):
    response = api_as("admin").post(
        f"/api/v1/orgs/{org.slug}/invitations/", {"email": "viewer@acme.test", "role": "user"}, format="json"
    )
    assert response.status_code == 400 and "already a member" in response.json()["error"]["fields"]["email"][0]


def test_invitation_token_is_not_stored(api_as, org, members):
    api_as("admin").post(f"/api/v1/orgs/{org.slug}/invitations/", {"email": "a@example.com", "role": "viewer"})
    token = _link(mail.outbox[-1]).strip("/").split("/")[-1]
    row = Invitation.objects.filter(email="a@example.com").values().get()
    assert token not in str(row)
    assert token not in str(list(AuditEvent.objects.values_list("details", flat=True)))


@pytest.mark.parametrize("count", [5, 50])
def test_invitation_lists_have_constant_query_counts(
    client_as, api_as, org, members, count, django_assert_max_num_queries
):
    for i in range(count):
        invitation = make_invitation(org, email=f"p{i}@example.com")
        invitation.invited_by = members["admin"]
        invitation.save()
    client = api_as("admin")
    with django_assert_max_num_queries(8):
        assert len(client.get(f"/api/v1/orgs/{org.slug}/invitations/?page_size=500").json()["results"]) == count
    page = client_as("admin")
    with django_assert_max_num_queries(14):
        assert page.get(reverse("member_list", args=[org.slug])).status_code == 200
