"""Real-browser fixtures: Debian's chromium driven by Playwright's sync API against `live_server`.

The browser starts once for the whole e2e suite (it is the slow part); each test gets a fresh
context, so cookies and sessions never leak between tests.

Playwright's sync API keeps an asyncio loop running in the test thread for as long as it is
started, and Django's ORM refuses to run under a running loop unless DJANGO_ALLOW_ASYNC_UNSAFE is
set. Both are therefore scoped to this package (not the session): set before Playwright starts,
undone when it stops, so neither leaks into the other tests of a full run (a subprocess running
`manage.py check --deploy` would otherwise inherit the flag and fail).

Every context reports Content-Security-Policy violations (the page's `securitypolicyviolation` events, and
chromium's "Refused to ..." console errors) to the test: a test whose pages violate the policy fails, so the
policy the platform sends is one its pages actually satisfy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.conftest import PASSWORD

ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 860}


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"  # before Playwright starts its loop in this thread
    try:
        with sync_playwright() as instance:
            yield instance
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


# Runs in every page before its own scripts (Playwright injects it outside the page's CSP) and reports each
# violation through the binding below, which outlives navigations.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCspViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} on ${event.documentURI}` +
    (event.sourceFile ? ` (${event.sourceFile}:${event.lineNumber})` : "") +
    (event.sample ? ` sample: ${event.sample}` : "")
  );
});
"""


def watch_csp(context: BrowserContext, violations: list[str]) -> None:
    """Collect the context's CSP violations (events and console errors) into `violations`."""
    context.expose_binding("__reportCspViolation", lambda source, text: violations.append(text))
    context.add_init_script(REPORT_CSP_VIOLATIONS)

    def on_console(message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            violations.append(f"console: {message.text}")

    context.on("console", on_console)


@pytest.fixture
def csp_violations() -> list[str]:
    """The CSP violations reported so far by this test's browser contexts (a test may assert on it early)."""
    return []


@pytest.fixture
def new_context(browser: Browser, csp_violations: list[str]) -> Iterator[Callable[..., BrowserContext]]:
    """Make isolated browser contexts (own cookies); all are closed after the test, which fails if any page
    reported a Content-Security-Policy violation."""
    contexts: list[BrowserContext] = []

    def make(**options) -> BrowserContext:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        watch_csp(context, csp_violations)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        if context.pages:
            context.pages[0].wait_for_timeout(50)  # let the last page's violation reports reach the binding
        context.close()
    assert not csp_violations, "Content-Security-Policy violations:\n" + "\n".join(csp_violations)


@pytest.fixture
def page(new_context) -> Page:
    return new_context().new_page()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def login(live_server) -> Callable[[Page, str], None]:
    """Sign in through the real login form, as a person would."""

    def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        assert "/login/" not in page.url, "login failed"

    return sign_in
