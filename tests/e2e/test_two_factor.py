"""Two-factor authentication in a real browser: an admin enrols by scanning (here: reading the key the
page shows for typing in), confirms with a code computed in the test, saves the recovery codes, signs
out, and signs in again with the password and a fresh code; then the organization requires it."""

from __future__ import annotations

import base64
import re
import time

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import expect

from accounts.models import AuditEvent, Organization
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def code_for(base32_key: str, step_offset: int = 0) -> str:
    """What an authenticator app shows for this key (RFC 6238, 30-second steps, 6 digits)."""
    compact = base32_key.replace(" ", "")
    key = base64.b32decode(compact + "=" * (-len(compact) % 8))
    totp = TOTP(key)
    totp.time = time.time() + 30 * step_offset
    return f"{totp.token():06d}"


def test_admin_enrols_signs_in_with_a_code_and_requires_it_for_admins(
    page, live_server, login, org, members, artifacts
):
    login(page, "admin@acme.test")
    page.locator("details.user-menu > summary").click()
    page.get_by_role("link", name="Two-factor authentication").click()
    page.get_by_role("link", name="Set up two-factor authentication").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor authentication")
    qr = page.get_by_role("figure", name=re.compile("QR code"))
    expect(qr.locator("svg")).to_be_visible()  # rendered by the platform, inline: no image from elsewhere
    key = page.get_by_test_id("totp-key").inner_text()
    page.screenshot(path=artifacts / "two-factor-setup.png", full_page=True)

    page.get_by_label("Code from the app").fill(code_for(key))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor authentication is on")
    codes = page.get_by_test_id("recovery-codes").locator("li")
    expect(codes).to_have_count(10)
    page.screenshot(path=artifacts / "two-factor-recovery-codes.png", full_page=True)
    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_text("Recovery codes left:")).to_contain_text("10")

    page.locator("details.user-menu > summary").click()
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill("admin@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/login/verify/")
    page.get_by_label("Code").fill("000000" if code_for(key, 1) != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not valid.")).to_be_visible()
    time.sleep(1.1)  # django-otp makes a device wait 1 s after a wrong code
    page.get_by_label("Code").fill(code_for(key, 1))  # the enrolment used the current step
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{live_server.url}/o/acme/")

    page.get_by_role("navigation", name="Organization").get_by_role("link", name="Security").click()
    page.get_by_label("Require two-factor authentication for admins").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Security settings saved.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("admin@acme.test"))).to_contain_text("On")
    page.screenshot(path=artifacts / "org-security.png", full_page=True)
    assert Organization.objects.get(pk=org.pk).require_admin_2fa
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"auth.two_factor_enabled", "auth.login_failed", "org.security_updated"} <= actions
