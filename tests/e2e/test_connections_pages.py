"""The connections pages in a real browser: an admin connects GitHub through the generated form, sees
the card, the detail without any secret, rotates, changes authorizations and deletes after the preview;
a viewer sees no controls; the filters work with JavaScript off."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Membership
from connections import services
from connections.models import Connection
from tests.connections.conftest import example
from tests.fakes.oauth import OAuthServerFake

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

GITHUB_TOKEN = "gho_" + "Q1w2E3r4T5y6" * 3
ROTATED_TOKEN = "gho_" + "Z9x8C7v6B5n4" * 3


def seed(org, *specs: tuple[str, str, str | None, tuple[str, ...]]) -> None:
    """Connections made through the service, as another admin would have: (provider, name, method, envs)."""
    admin = Membership.objects.get(org=org, role="admin").user
    for provider, name, method, environments in specs:
        method, config, secrets = example(provider, method)
        services.do_create_connection(
            org,
            actor=admin,
            name=name,
            provider=provider,
            auth_method=method,
            config=config,
            secrets=secrets,
            environments=environments,
        )


def open_connections(page: Page) -> None:
    page.get_by_role("navigation", name="Organization").get_by_role("link", name="Connections").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connections")


def card(page: Page, name: str):
    return page.locator("article.connection-card").filter(has=page.get_by_role("link", name=name, exact=True))


def test_admin_connects_github_and_manages_it(page, live_server, login, org, members, artifacts):
    seed(
        org,
        ("aws", "aws-prod-account", "access_key", ("production",)),
        ("azure", "azure-backup", "federated", ("staging",)),
        ("proxmox", "pve-lab", None, ()),
        ("dockerhub", "dockerhub-acme", None, ("development", "staging")),
    )
    login(page, "admin@acme.test")
    open_connections(page)
    expect(page.get_by_role("heading", name="Add a connection")).to_be_visible()
    expect(page.get_by_role("heading", name="Git providers")).to_be_visible()

    page.get_by_role("link", name="Connect GitHub").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Connect GitHub")
    expect(page.get_by_role("button", name="Connect with GitHub")).to_be_visible()  # OAuth is the default
    page.get_by_role("link", name="Personal access token").click()
    form = page.locator("form", has=page.get_by_role("button", name="Create connection"))
    form.get_by_label("Name", exact=True).fill("github-acme")
    form.get_by_label("Organization").fill("acme-corp")
    form.get_by_label("Token").fill(GITHUB_TOKEN)
    form.get_by_label("Development").check()
    form.get_by_role("button", name="Create connection").click()

    expect(page).to_have_url(f"{live_server.url}/o/acme/connections/github-acme/")
    expect(page.get_by_role("status").filter(has_text="created")).to_contain_text("github-acme")
    credentials = page.locator("section", has=page.get_by_role("heading", name="Credentials"))
    expect(credentials).to_contain_text("Token")
    expect(credentials).to_contain_text("set")
    fingerprint = Connection.objects.get(name="github-acme").secret_fingerprints["token"]
    expect(credentials).to_contain_text(fingerprint)
    assert GITHUB_TOKEN not in page.content()

    open_connections(page)
    github = card(page, "github-acme")
    expect(github.locator(".chip")).to_have_text(["development"])
    expect(github).to_contain_text("GitHub")
    expect(github).to_contain_text("Active")
    expect(github).to_contain_text("acme-corp")
    expect(github).to_contain_text("Not checked")
    page.screenshot(path=artifacts / "connections.png", full_page=True)
    yours = page.locator("section", has=page.get_by_role("heading", name=re.compile("^Your connections")))
    yours.screenshot(path=artifacts / "connections-cards.png")
    add = page.locator("section", has=page.get_by_role("heading", name="Add a connection"))
    add.screenshot(path=artifacts / "connections-add.png")

    github.get_by_role("link", name="github-acme").click()
    page.get_by_role("link", name="Rotate credentials").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rotate the credentials of github-acme")
    page.get_by_label("Token").fill(ROTATED_TOKEN)
    page.get_by_role("button", name="Rotate credentials").click()
    expect(page.get_by_role("status").filter(has_text="rotated")).to_be_visible()
    assert Connection.objects.get(name="github-acme").secret_fingerprints["token"] != fingerprint
    assert ROTATED_TOKEN not in page.content()

    page.get_by_role("link", name="Manage authorizations").click()
    expect(page.get_by_label("Development")).to_be_checked()
    page.get_by_label("Development").uncheck()
    page.get_by_label("Staging").check()
    page.get_by_label("Production").check()
    page.get_by_role("button", name="Save authorizations").click()
    expect(page.get_by_role("status").filter(has_text="now authorized")).to_contain_text("production, staging")
    environments = page.locator("section", has=page.get_by_role("heading", name="Authorized environments"))
    expect(environments.locator(".chip")).to_have_text(["production", "staging"])
    page.screenshot(path=artifacts / "connection-detail.png", full_page=True)
    page.goto(f"{live_server.url}/o/acme/connections/new/aws/?auth_method=access_key")
    page.screenshot(path=artifacts / "connection-create-aws.png", full_page=True)
    page.goto(f"{live_server.url}/o/acme/connections/github-acme/")

    page.get_by_role("link", name="Delete", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Delete connection github-acme?")
    preview = page.get_by_role("table")
    expect(preview.get_by_role("row", name=re.compile("Environment authorizations"))).to_contain_text("2")
    expect(preview.get_by_role("row", name=re.compile("Connections that use its credentials"))).to_contain_text("0")
    page.get_by_role("button", name="Delete connection").click()
    expect(page).to_have_url(f"{live_server.url}/o/acme/connections/")
    expect(page.get_by_role("status").filter(has_text="deleted")).to_contain_text("github-acme")
    expect(card(page, "github-acme")).to_have_count(0)
    assert not Connection.objects.filter(name="github-acme").exists()


def test_delete_is_disabled_while_another_connection_uses_it(page, live_server, login, org, members, artifacts):
    seed(org, ("aws", "aws-production", "access_key", ()), ("ecr", "ecr-main", None, ()))
    login(page, "admin@acme.test")
    page.goto(f"{live_server.url}/o/acme/connections/aws-production/delete/")
    expect(page.get_by_role("alert")).to_contain_text("cannot be deleted while it is in use")
    expect(page.get_by_role("alert")).to_contain_text("ecr-main")
    expect(page.get_by_role("button", name="Delete connection")).to_be_disabled()
    page.screenshot(path=artifacts / "connection-delete-blocked.png", full_page=True)


def test_viewer_sees_connections_but_no_controls(page, live_server, login, org, members):
    seed(org, ("github", "github-acme", "oauth", ("development",)))
    login(page, "viewer@acme.test")
    open_connections(page)
    expect(card(page, "github-acme")).to_be_visible()
    expect(page.get_by_role("heading", name="Add a connection")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Connect "))).to_have_count(0)

    card(page, "github-acme").get_by_role("link", name="github-acme").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("github-acme")
    for name in ("Test connection", "Deactivate"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    for name in ("Edit", "Rotate credentials", "Rotate", "Delete", "Manage authorizations"):
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    response = page.goto(f"{live_server.url}/o/acme/connections/github-acme/rotate/")
    assert response is not None and response.status == 403


def test_filters_work_without_javascript(new_context, live_server, login, org, members, artifacts):
    seed(
        org,
        ("github", "github-alpha", "oauth", ()),
        ("gitlab", "gitlab-alpha", "oauth", ()),
        ("aws", "aws-beta", "assume_role", ()),
    )
    page = new_context(java_script_enabled=False).new_page()
    login(page, "viewer@acme.test")
    page.goto(f"{live_server.url}/o/acme/connections/")
    expect(page.locator("article.connection-card")).to_have_count(3)

    page.get_by_label("Search").fill("alpha")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"q=alpha"))
    expect(page.locator("article.connection-card h3")).to_have_text(["github-alpha", "gitlab-alpha"])
    expect(page.get_by_label("Search")).to_have_value("alpha")

    page.get_by_label("Provider").select_option("gitlab")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"provider=gitlab"))
    expect(page.locator("article.connection-card h3")).to_have_text(["gitlab-alpha"])
    expect(page.get_by_label("Search")).to_have_value("alpha")
    expect(page.get_by_label("Provider")).to_have_value("gitlab")

    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Status").select_option("inactive")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("article.connection-card")).to_have_count(0)
    expect(page.get_by_text("No connections match these filters.")).to_be_visible()
    page.screenshot(path=artifacts / "connections-filtered-no-js.png", full_page=True)


def test_admin_connects_github_with_oauth_and_sees_federated_setup(
    page, live_server, login, org, members, settings, artifacts
):
    """The whole OAuth dance in the browser: the platform's form, the (fake) GitHub consent redirect, the
    callback; then the granted scopes on the page. And an Azure federated connection's setup panel."""
    settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.GITHUB_OAUTH_CLIENT_ID, settings.GITHUB_OAUTH_CLIENT_SECRET = "Iv1.e2eclient", "e2e-client-secret-canary"
    settings.OIDC_ISSUER_URL = "https://connect.example.com"
    seed(org, ("azure", "azure-fed", "federated", ()))
    with OAuthServerFake(flavor="github", client_id="Iv1.e2eclient", client_secret="e2e-client-secret-canary") as fake:
        settings.PROVIDER_ENDPOINTS = {"github_oauth": fake.url}
        login(page, "admin@acme.test")
        page.goto(f"{live_server.url}/o/acme/connections/new/github/")
        form = page.locator("form", has=page.get_by_role("button", name="Connect with GitHub"))
        form.get_by_label("Name", exact=True).fill("github-oauth")
        form.get_by_label("Organization").fill("acme-corp")
        expect(form.get_by_label("Token")).to_have_count(0)
        form.get_by_role("button", name="Connect with GitHub").click()
        expect(page).to_have_url(f"{live_server.url}/o/acme/connections/github-oauth/")
        expect(page.get_by_role("status").filter(has_text="connected with GitHub")).to_contain_text("read:org")
        expect(page.locator("#oauth-scopes")).to_contain_text("repo")
        expect(page.get_by_role("button", name="Reconnect with GitHub")).to_be_visible()
        assert fake.access_tokens and fake.access_tokens[0] not in page.content()
        assert "e2e-client-secret-canary" not in page.content()
        page.screenshot(path=artifacts / "connection-oauth.png", full_page=True)

    page.goto(f"{live_server.url}/o/acme/connections/azure-fed/")
    setup = page.locator("section", has=page.get_by_role("heading", name="Federated credential in Microsoft Entra ID"))
    expect(setup).to_contain_text("https://connect.example.com")
    expect(setup).to_contain_text("org:acme:connection:azure-fed")
    expect(setup).to_contain_text("api://AzureADTokenExchange")
    expect(setup).to_contain_text("az ad app federated-credential create")
    setup.screenshot(path=artifacts / "connection-federated-setup.png")
def test_admin_makes_a_second_account_the_environment_default(page, live_server, login, org, members):
    """Multi-account: two AWS connections authorized for production; the admin makes the second the default
    from its authorizations page, and the selection explainer then names it."""
    seed(
        org,
        ("aws", "aws-networking", "access_key", ("production",)),
        ("aws", "aws-workloads", "access_key", ("production",)),
    )
    login(page, "admin@acme.test")
    page.goto(f"{live_server.url}/o/{org.slug}/connections/aws-workloads/authorizations/")
    defaults = page.get_by_role("region", name="Default connection")
    expect(defaults.get_by_role("row", name=re.compile("production"))).to_contain_text("aws-networking")
    defaults.get_by_role("button", name="Make default in production").click()
    expect(page.get_by_text("“aws-workloads” is the default aws connection of production.")).to_be_visible()
    expect(defaults.get_by_role("row", name=re.compile("production"))).to_contain_text("This connection")
    page.goto(f"{live_server.url}/o/{org.slug}/environments/production/selection/?provider=aws")
    reason = "'aws-workloads' is the default aws connection of environment 'production'"
    expect(page.get_by_text(reason)).to_be_visible()
    page.goto(f"{live_server.url}/o/{org.slug}/connections/aws-networking/")
    environments = page.locator("section", has=page.get_by_role("heading", name="Authorized environments"))
    expect(environments.locator(".chip")).to_have_text(["production (by name only)"])
