"""Invitations in a real browser: an admin invites someone from the members page, the invitee opens the
mailed link in another browser, creates their account and lands in the organization."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import Membership

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_invites_and_the_invitee_joins(page, new_context, live_server, login, org, members, artifacts):
    login(page, "admin@acme.test")
    page.goto(f"{live_server.url}/o/acme/members/")
    form = page.locator("form", has=page.get_by_role("button", name="Send invitation"))
    form.get_by_label("Email").fill("joiner@example.com")
    form.get_by_label("Role").select_option("user")
    form.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status").filter(has_text="Invitation sent")).to_contain_text("joiner@example.com")
    expect(page.get_by_role("row", name=re.compile("joiner@example.com"))).to_contain_text("Pending")
    page.screenshot(path=artifacts / "members-invitations.png", full_page=True)

    link = re.search(r"https?://\S+/invitations/[0-9a-f]+/", mail.outbox[-1].body).group(0)
    invitee = new_context().new_page()
    invitee.goto(link)
    expect(invitee.get_by_role("heading", level=1)).to_have_text("Join Acme")
    invitee.get_by_label("Your name").fill("Jo Iner")
    invitee.get_by_label("Choose a password").fill("A-fresh-Passw0rd-for-invitee")
    invitee.get_by_role("button", name="Create account and join").click()
    expect(invitee).to_have_url(f"{live_server.url}/o/acme/")
    assert Membership.objects.get(org=org, user__email="joiner@example.com").role == "user"
