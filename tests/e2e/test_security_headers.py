"""The Content-Security-Policy holds in the browser: pages not visited by the other browser tests (API docs,
admin, error pages, sign-in) report no violation, and a page that breaks the policy is caught by the fixture
(so the other tests' silence means something)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import watch_csp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_watcher_catches_an_inline_style_and_script(browser, live_server):
    """A page with an inline script and a style attribute, under the platform's own policy, is reported."""
    violations: list[str] = []
    context = browser.new_context()
    watch_csp(context, violations)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.evaluate(
        """() => {
            const div = document.createElement("div");
            div.innerHTML = '<span style="color: red">x</span>';
            document.body.appendChild(div);
            const script = document.createElement("script");
            script.textContent = "window.ran = true";
            document.body.appendChild(script);
        }"""
    )
    page.wait_for_timeout(200)
    ran = page.evaluate("() => window.ran === true")
    context.close()
    assert not ran
    assert any("script-src" in v for v in violations), violations
    assert any("style-src" in v for v in violations), violations


def test_sign_in_and_error_pages_satisfy_the_policy(page: Page, live_server, org, members):
    for path in ("/login/", "/password-reset/", "/o/no-such-org/connections/"):
        response = page.goto(f"{live_server.url}{path}")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert "camera=()" in response.headers["permissions-policy"]


def test_api_docs_render_under_their_policy(page: Page, live_server, login, org, members):
    login(page, "admin@acme.test")
    page.goto(f"{live_server.url}/api/docs/")
    page.get_by_text("Cloud Connections Platform API").first.wait_for()
    page.locator(".opblock").first.wait_for()
    page.locator(".opblock-summary").first.click()
    page.wait_for_timeout(300)


def test_admin_pages_satisfy_the_policy(page: Page, live_server, login, org, members):
    from accounts.models import User

    User.objects.filter(email="admin@acme.test").update(is_staff=True, is_superuser=True)
    login(page, "admin@acme.test")
    # Organizations are not added in the admin (operators change name and plan); a change form is a form page.
    for path in ("/admin/", "/admin/accounts/organization/", f"/admin/accounts/organization/{org.pk}/change/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
    page.wait_for_timeout(200)


def test_provider_icons_keep_their_brand_colours_without_inline_styles(page: Page, live_server, login, org, members):
    from connections.display import DISPLAY

    login(page, "admin@acme.test")
    page.goto(f"{live_server.url}/o/acme/connections/")
    display = DISPLAY["github"]
    icon = page.locator(f".provider-icon.{display.css_class}").first
    background = icon.evaluate("(el) => getComputedStyle(el).backgroundColor")
    red, green, blue = (int(display.color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    assert background == f"rgb({red}, {green}, {blue})"
