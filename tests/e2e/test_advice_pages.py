"""Rotation reminders and separation advice in a real browser (issue 12): the reminder reaches the
banner and the organization's alerts, the "Due for rotation" filter narrows the cards (without
JavaScript), and a connection that reaches development and production carries its warning on the
card and on its page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from connections import reminders
from connections.models import Connection
from tests.e2e.test_connections_pages import card, seed

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]


def test_reminder_filter_and_separation_warning(new_context, live_server, login, org, members, artifacts):
    seed(
        org,
        ("github", "gh-everywhere", "oauth", ("development", "production")),
        ("gitlab", "gl-dev", "oauth", ("development", "staging")),
    )
    Connection.objects.filter(name="gh-everywhere").update(credentials_rotated_at=timezone.now() - timedelta(days=120))
    assert reminders.rotation_reminder_sweep() == 1  # transactional test: delivered on commit, as in production

    page = new_context(java_script_enabled=False).new_page()
    login(page, "admin@acme.test")
    page.goto(f"{live_server.url}/o/acme/connections/")
    expect(page.locator(".alert-banner")).to_contain_text("1 open alert")
    everywhere = card(page, "gh-everywhere")
    expect(everywhere.locator(".separation-warning")).to_contain_text("production-like (production)")
    expect(card(page, "gl-dev").locator(".separation-warning")).to_have_count(0)
    expect(everywhere.get_by_text("Rotation due")).to_be_visible()

    page.get_by_label("Rotation").select_option("true")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"rotation_overdue=true"))
    expect(page.locator("article.connection-card h3")).to_have_text(["gh-everywhere"])
    page.screenshot(path=artifacts / "connections-rotation-due.png", full_page=True)

    page.get_by_role("link", name="gh-everywhere", exact=True).click()
    expect(page.locator(".separation-warning")).to_contain_text("use separate connections")
    page.get_by_role("link", name="review").click()
    expect(page.get_by_text("Credentials of 'gh-everywhere' are overdue for rotation")).to_be_visible()
