"""The pages in a real browser: sign in, manage environments, the audit trail, what a viewer cannot
see, the organization switcher, the collapsible navigation, and the same flow with JavaScript off."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.choices import RoleChoices
from accounts.models import AuditEvent, Environment, Membership
from tests.conftest import make_member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def create_environment(page: Page, slug: str, name: str) -> None:
    form = page.locator("form", has=page.get_by_role("button", name="Create environment"))
    form.get_by_label("Slug").fill(slug)
    form.get_by_label("Name").fill(name)
    form.get_by_role("button", name="Create environment").click()
    page.wait_for_load_state()


def test_admin_creates_an_environment_and_finds_it_in_the_audit_trail(
    page, live_server, login, org, members, artifacts
):
    login(page, "admin@acme.test")
    expect(page).to_have_url(f"{live_server.url}/o/acme/")  # one organization: straight to its home
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme")

    page.get_by_role("navigation", name="Organization").get_by_role("link", name="Environments").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Environments")
    create_environment(page, "qa", "Quality assurance")

    expect(page).to_have_url(f"{live_server.url}/o/acme/environments/")
    expect(page.get_by_role("status").filter(has_text="created")).to_contain_text("Quality assurance")
    expect(page.get_by_role("row", name=re.compile("Quality assurance"))).to_contain_text("qa")
    assert Environment.objects.filter(org=org, slug="qa").exists()
    page.screenshot(path=artifacts / "environments-admin.png", full_page=True)

    page.get_by_role("link", name="Audit trail").click()
    row = page.get_by_role("row", name=re.compile("environment.created"))
    expect(row).to_contain_text("admin@acme.test")
    expect(row).to_contain_text("acme/qa")
    event = AuditEvent.objects.get(org=org, action="environment.created")
    request_link = row.get_by_role("link", name=f"Events of request {event.request_id}")
    expect(request_link).to_be_hidden()  # details stay folded: one short line per event
    folded = row.bounding_box()["height"]
    assert folded < 80, "a folded row stays two lines high"
    page.screenshot(path=artifacts / "audit-folded.png", full_page=True)
    row.locator("summary").click()
    expect(request_link).to_be_visible()
    assert row.bounding_box()["height"] > folded
    table = page.locator("table.audit-table").bounding_box()
    assert table["width"] <= page.viewport_size["width"], "the audit table fits the screen, no sideways scroll"

    page.get_by_label("Action").select_option("environment.created")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"action=environment\.created"))
    expect(page.get_by_role("heading", name=re.compile("1 event"))).to_be_visible()
    page.screenshot(path=artifacts / "audit-admin.png", full_page=True)


def test_viewer_sees_lists_but_no_controls_and_no_audit(page, live_server, login, org, members, artifacts):
    login(page, "viewer@acme.test")
    nav = page.get_by_role("navigation", name="Organization")
    expect(nav.get_by_role("link", name="Environments")).to_be_visible()
    expect(nav.get_by_role("link", name="Audit trail")).to_have_count(0)

    nav.get_by_role("link", name="Environments").click()
    expect(page.get_by_role("row", name=re.compile("Staging"))).to_be_visible()
    expect(page.get_by_role("button", name="Create environment")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Edit"))).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Delete"))).to_have_count(0)

    nav.get_by_role("link", name="Members").click()
    expect(page.get_by_role("row", name=re.compile("admin@acme.test"))).to_contain_text("Admin")
    expect(page.get_by_role("combobox")).to_have_count(0)

    response = page.goto(f"{live_server.url}/o/acme/audit/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_contain_text("do that here")
    page.screenshot(path=artifacts / "forbidden-viewer.png", full_page=True)


def test_org_switcher_lists_the_users_organizations(page, live_server, login, org, other_org):
    user = make_member(org, RoleChoices.ADMIN, email="both@example.com")
    Membership.objects.create(user=user, org=other_org, role=RoleChoices.VIEWER)
    login(page, "both@example.com")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your organizations")

    page.get_by_role("link", name=re.compile("Acme")).first.click()
    switcher = page.locator("details.org-switcher")
    switcher.locator("summary").click()
    items = switcher.get_by_role("link")
    expect(items.filter(has_text="Acme")).to_contain_text("Admin")
    expect(items.filter(has_text="Globex")).to_contain_text("Viewer")
    items.filter(has_text="Globex").click()
    expect(page).to_have_url(f"{live_server.url}/o/globex/")
    expect(page.locator("details.org-switcher summary")).to_contain_text("Globex")


def test_navigation_collapses_into_a_menu_on_small_screens(new_context, live_server, login, org, members, artifacts):
    page = new_context(viewport={"width": 390, "height": 844}).new_page()
    login(page, "admin@acme.test")
    nav_link = page.get_by_role("navigation", name="Organization").get_by_role("link", name="Members")
    expect(nav_link).to_be_hidden()
    page.screenshot(path=artifacts / "mobile-collapsed.png", full_page=True)
    page.locator("details.nav-collapse > summary").click()
    expect(nav_link).to_be_visible()
    page.screenshot(path=artifacts / "mobile-menu-open.png", full_page=True)
    nav_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Members")


def test_navigation_is_always_open_on_wide_screens(page, live_server, login, org, members):
    login(page, "admin@acme.test")
    expect(page.locator("details.nav-collapse > summary")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Organization").get_by_role("link", name="Audit trail")).to_be_visible()


def test_everything_works_without_javascript(new_context, live_server, login, org, members, artifacts):
    page = new_context(java_script_enabled=False).new_page()
    login(page, "admin@acme.test")
    page.goto(f"{live_server.url}/o/acme/environments/")
    create_environment(page, "no-js", "No script")
    expect(page.get_by_role("row", name=re.compile("No script"))).to_be_visible()
    assert Environment.objects.filter(org=org, slug="no-js").exists()

    # Deleting goes through a confirmation page and a POST form, no script involved.
    page.get_by_role("link", name="Delete No script").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Delete environment No script?")
    page.get_by_role("button", name="Delete environment").click()
    expect(page.get_by_role("row", name=re.compile("No script"))).to_have_count(0)
    assert not Environment.objects.filter(org=org, slug="no-js").exists()

    # The menus are <details>: they open without script too; signing out is a POST form.
    page.locator("details.user-menu > summary").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile("/login/"))
    expect(page.get_by_role("status")).to_contain_text("signed out")
    page.screenshot(path=artifacts / "signed-out-no-js.png", full_page=True)


def test_token_value_is_shown_once_and_selectable(page, live_server, login, org, members, artifacts):
    login(page, "user@acme.test")
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("deploy bot")
    page.get_by_label("Role cap").select_option("viewer")
    page.get_by_role("button", name="Create token").click()
    value = page.locator("#token-value").inner_text()
    assert value.startswith("ccp_")
    page.screenshot(path=artifacts / "token-created.png", full_page=True)
    # A click selects the whole value (user-select: all), ready to copy without any script.
    page.locator("#token-value").click()
    assert page.evaluate("window.getSelection().toString()").strip() == value

    page.get_by_role("link", name="I have copied it").click()
    expect(page.get_by_role("row", name=re.compile("deploy bot"))).to_contain_text("Viewer")
    assert value not in page.content()
