"""The FinOps dashboard in a real browser: an admin reaches it from the navigation, reads the month's
figures (chart and tables), adds a budget through the form and sees its burn; a viewer sees no controls;
with JavaScript off the page is the same (server-rendered SVG and tables)."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from finops import services
from tests.connections.conftest import create_connection
from tests.finops.conftest import add_costs

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def seed(org):
    today = services.today()
    aws = create_connection(org, "aws", name="aws-prod", environments=("production",))
    prod = org.environments.get(slug="production")
    for offset in range(today.day):
        add_costs(aws, today - dt.timedelta(days=offset), "Amazon EC2", "10.00", environment=prod)


def test_admin_reads_costs_and_adds_a_budget(page, live_server, login, org, members, artifacts):
    seed(org)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    login(page, "admin@acme.test")
    page.get_by_role("navigation", name="Organization").get_by_role("link", name="Costs").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Costs")
    total = f"{services.today().day * 10:.2f}"
    expect(page.locator("#mtd-table")).to_contain_text(total)
    expect(page.get_by_role("img", name="Daily billed cost in USD (same figures as the table)")).to_be_visible()
    page.get_by_label("Name").fill("Prod budget")
    page.locator("#id_scope").select_option("environment")
    page.locator("#id_environment").select_option("production")
    page.get_by_label("Amount").fill("1000")
    page.get_by_role("button", name="Create budget").click()
    expect(page.get_by_text("Budget “Prod budget” created.")).to_be_visible()
    expect(page.locator("#budget-table")).to_contain_text("Prod budget")
    expect(page.locator("#budget-table")).to_contain_text(total)
    page.screenshot(path=str(artifacts / "finops-dashboard.png"), full_page=True)
    assert errors == []


def test_viewer_without_javascript_reads_the_same_tables(new_context, live_server, login, org, members):
    seed(org)
    page = new_context(java_script_enabled=False).new_page()
    login(page, "viewer@acme.test")
    page.goto(f"{live_server.url}/o/acme/costs/")
    expect(page.locator("#mtd-table")).to_contain_text(f"{services.today().day * 10:.2f}")
    expect(page.get_by_role("button", name="Create budget")).to_have_count(0)
    expect(page.get_by_role("button", name="Sync")).to_have_count(0)
