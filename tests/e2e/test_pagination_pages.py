"""Long lists in a real browser: the members page walks its pages with the links (Next, Last, Previous,
First), every member shows up exactly once, the invitations keep their own page while the members are
paged, and no page breaks the Content-Security-Policy (checked by the `new_context` fixture)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.choices import RoleChoices
from accounts.models import Membership, User
from tests.accounts.test_api import make_invitation

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BULK = 120  # with the four role fixtures: 124 members, five pages of 25


def bulk_members(org) -> None:
    users = User.objects.bulk_create(
        User(email=f"bulk-{i:04d}@acme.test", full_name=f"Bulk {i}", password="!") for i in range(BULK)
    )
    Membership.objects.bulk_create(Membership(user=user, org=org, role=RoleChoices.VIEWER) for user in users)


def members_on(page: Page) -> set[str]:
    table = page.locator("section", has=page.locator("#member-list-heading")).locator("tbody")
    return set(re.findall(r"bulk-\d{4}@acme\.test", table.inner_text()))


def member_pagination(page: Page):
    return page.get_by_role("navigation", name="Pagination of members")


def test_admin_walks_every_page_of_members(page, live_server, login, org, members):
    bulk_members(org)
    for i in range(30):
        make_invitation(org, email=f"invited-{i:02d}@example.com")
    login(page, "admin@acme.test")
    page.goto(f"{live_server.url}/o/acme/members/")
    expect(page.get_by_role("heading", name="124 members")).to_be_visible()
    expect(member_pagination(page)).to_contain_text("Page 1 of 5")

    # The invitations go to their second page; the members' page must stay where it is, and the reverse.
    page.get_by_role("navigation", name="Pagination of invitations").get_by_role("link", name="Next").click()
    expect(page.get_by_role("navigation", name="Pagination of invitations")).to_contain_text("Page 2 of 2")

    seen: list[set[str]] = [members_on(page)]
    for number in (2, 3, 4, 5):
        member_pagination(page).get_by_role("link", name="Next").click()
        expect(member_pagination(page)).to_contain_text(f"Page {number} of 5")
        expect(page.get_by_role("navigation", name="Pagination of invitations")).to_contain_text("Page 2 of 2")
        seen.append(members_on(page))
    assert [len(s) for s in seen] == [24, 25, 25, 25, 21]  # admin@ sorts first; provisioner@, user@, viewer@ last
    assert len(set().union(*seen)) == BULK
    expect(member_pagination(page).get_by_role("link", name="Next")).to_have_count(0)  # no Next on the last

    member_pagination(page).get_by_role("link", name="Previous").click()
    expect(member_pagination(page)).to_contain_text("Page 4 of 5")
    assert members_on(page) == seen[3]
    member_pagination(page).get_by_role("link", name="First").click()
    expect(member_pagination(page)).to_contain_text("Page 1 of 5")
    assert members_on(page) == seen[0]
    assert "inv_page=2" in page.url  # the invitations' page survived the walk

    # An old bookmark past the end shows the last page, not an error.
    page.goto(f"{live_server.url}/o/acme/members/?page=99")
    expect(member_pagination(page)).to_contain_text("Page 5 of 5")
