"""GitHub and GitLab OAuth: "Connect with ..." runs the real authorization-code flow with state and PKCE
against a local fake authorization server (tests/fakes/oauth.py), stores the tokens like any secret,
records the granted scopes, refreshes expiring tokens before they expire, and refuses a forged or reused
state, a reused code, a wrong verifier and another organization's user."""

from __future__ import annotations

import html
import http.client
import json
import logging
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.choices import AuditAction
from accounts.models import AuditEvent, Organization
from accounts.policy import Action
from connections.models import Connection
from connections.oauth_flow import SESSION_KEY
from connections.providers import get_provider
from connections.providers.oauth import OAuthError, OAuthUnavailable, pkce_pair
from connections.runtime import use_credentials
from connections.secrets import load_secrets
from connections.tasks import refresh_oauth_tokens
from tests.connections.conftest import connections_state, create_connection
from tests.fakes.oauth import OAuthServerFake
from tests.permissions import Case, PermissionMatrix

CLIENT_ID = "Iv1.platformclient01"
CLIENT_SECRET = "canary-client-secret-4f1d9e2b7a6c"  # must never leave the platform
GITLAB_SECRET = "gloas-canary-client-secret-8c2e71d04b"


@pytest.fixture(autouse=True)
def _network(settings):
    settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.GITHUB_OAUTH_CLIENT_ID = CLIENT_ID
    settings.GITHUB_OAUTH_CLIENT_SECRET = CLIENT_SECRET
    settings.GITLAB_OAUTH_APPS = {"https://gitlab.com/": {"client_id": "gl-app-id", "client_secret": GITLAB_SECRET}}


@pytest.fixture
def github_fake(settings):
    with OAuthServerFake(flavor="github", client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as fake:
        settings.PROVIDER_ENDPOINTS = {"github_oauth": fake.url}
        yield fake


@pytest.fixture
def gitlab_fake(settings):
    with OAuthServerFake(flavor="gitlab", client_id="gl-app-id", client_secret=GITLAB_SECRET, expires_in=7200) as fake:
        settings.PROVIDER_ENDPOINTS = {"gitlab": fake.url}
        yield fake


def create_url(org_slug: str, provider: str) -> str:
    return reverse("connection_create", args=[org_slug, provider]) + "?auth_method=oauth"


def start(client: Client, provider: str, name: str, **extra: str) -> dict[str, str]:
    """Submit the create form with the OAuth method; return the authorize URL's query (it must go to the fake)."""
    data = {"name": name, "description": "", "environments": ["development"], **extra}
    response = client.post(create_url("acme", provider), data)
    return authorize_query(leaving_url(response))


def leaving_url(response: Any) -> str:
    """The authorize URL the "Continue to ..." page sends the browser to (meta refresh and link agree).

    A page, not a 302: the Content-Security-Policy's form-action would block a redirect to another origin."""
    assert response.status_code == 200, response.content.decode()[:2000]
    body = response.content.decode()
    refresh = html.unescape(re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', body).group(1))
    link = html.unescape(re.search(r'<a class="button button-primary" href="([^"]+)">Continue to', body).group(1))
    assert refresh == link and response["Cache-Control"] == "no-store"
    return refresh


def authorize_query(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    assert parts.hostname == "127.0.0.1"
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query["_url"] = location
    return query


def consent(authorize: dict[str, str]) -> str:
    """What the browser does on the provider: GET the authorize URL; returns the callback path + query."""
    parts = urlsplit(authorize["_url"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", f"{parts.path}?{parts.query}")
    response = conn.getresponse()
    assert response.status == 302, response.read()
    location = response.getheader("Location")
    conn.close()
    back = urlsplit(location)
    assert back.path == reverse("connection_oauth_callback")
    return f"{back.path}?{back.query}"


def everything_visible(client: Client, callback: str, name: str) -> str:
    """Every page and API body about the connection, plus the audit rows, as one text (for canaries)."""
    texts = [client.get(reverse("connection_detail", args=["acme", name])).content.decode()]
    texts.append(client.get(f"/api/v1/orgs/acme/connections/{name}/").content.decode())
    texts.append(json.dumps(list(AuditEvent.objects.values("action", "details")), default=str))
    return "\n".join(texts)


# --- Happy paths ----------------------------------------------------------------------------------


def test_connect_with_github_creates_the_connection_with_token_and_scopes(client_as, github_fake, org, caplog):
    caplog.set_level(logging.DEBUG)
    admin = client_as("admin")
    authorize = start(admin, "github", "gh-oauth", organization="acme-corp")
    assert authorize["client_id"] == CLIENT_ID and authorize["code_challenge_method"] == "S256"
    assert authorize["scope"] == "repo read:org" and len(authorize["state"]) >= 43
    assert "client_secret" not in authorize["_url"] and CLIENT_SECRET not in authorize["_url"]
    callback = consent(authorize)
    response = admin.get(callback)
    assert response.status_code == 302
    assert response["Location"] == reverse("connection_detail", args=["acme", "gh-oauth"])
    connection = Connection.objects.get(org=org, name="gh-oauth")
    assert connection.auth_method == "oauth" and connection.config["organization"] == "acme-corp"
    assert load_secrets(connection) == {"token": github_fake.access_tokens[0]}
    assert connection.oauth_scopes == ["read:org", "repo"]
    assert connection.oauth_expires_at is None  # an OAuth app's token does not expire
    assert list(connection.authorizations.values_list("environment__slug", flat=True)) == ["development"]
    assert github_fake.pkce_checked == 1 and github_fake.pkce_failures == 0
    api = admin.get("/api/v1/orgs/acme/connections/gh-oauth/").json()
    assert (api["oauth_scopes"], api["oauth_expires_at"]) == (["read:org", "repo"], None)
    assert api["secret_fields"] == ["token"]
    event = AuditEvent.objects.get(action=AuditAction.CONNECTION_CREATED)
    assert event.details["oauth"]["scopes"] == ["read:org", "repo"]
    assert event.details["secret_fields"] == ["token"]
    # Canary: neither the token nor the client secret shows up anywhere.
    visible = everything_visible(admin, callback, "gh-oauth") + caplog.text
    visible += admin.get(reverse("connection_detail", args=["acme", "gh-oauth"])).content.decode()
    assert "read:org" in visible
    for canary in (github_fake.access_tokens[0], CLIENT_SECRET):
        assert canary not in visible
    # The state was single use: replaying the callback is refused and stores nothing more.
    replay = admin.get(callback)
    assert replay.status_code == 400
    assert "already used" in replay.content.decode()
    assert len(github_fake.access_tokens) == 1


def test_connect_with_gitlab_stores_refresh_token_and_expiry_then_refreshes_before_expiry(
    client_as, gitlab_fake, org, settings
):
    admin = client_as("admin")
    authorize = start(admin, "gitlab", "gl-oauth")
    assert authorize["scope"] == "api"
    assert admin.get(consent(authorize)).status_code == 302
    connection = Connection.objects.get(org=org, name="gl-oauth")
    first = load_secrets(connection)
    assert first["token"] == gitlab_fake.access_tokens[0] and first["refresh_token"]
    assert connection.oauth_scopes == ["api"]
    assert timedelta(minutes=115) < connection.oauth_expires_at - timezone.now() <= timedelta(hours=2)
    # Not due yet: nothing happens.
    settings.OAUTH_REFRESH_MARGIN_SECONDS = 900
    assert refresh_oauth_tokens() == 0
    # Within the margin before expiry: the task renews it, and the provider's rotated refresh token is kept.
    Connection.objects.filter(pk=connection.pk).update(oauth_expires_at=timezone.now() + timedelta(minutes=5))
    assert refresh_oauth_tokens() == 1
    connection.refresh_from_db()
    second = load_secrets(connection)
    assert second["token"] == gitlab_fake.access_tokens[1] != first["token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert gitlab_fake.refresh_tokens[first["refresh_token"]] is False
    assert connection.oauth_expires_at - timezone.now() > timedelta(minutes=115)
    event = AuditEvent.objects.get(action=AuditAction.CONNECTION_OAUTH_REFRESHED)
    assert event.details["outcome"] == "refreshed"
    text = json.dumps(list(AuditEvent.objects.values("details")), default=str)
    for canary in (*first.values(), *second.values(), GITLAB_SECRET):
        assert canary not in text
    # Running it again (a retried beat task) changes nothing.
    assert refresh_oauth_tokens() == 0


def test_a_use_refreshes_an_expiring_token_first(client_as, gitlab_fake, org, members):
    admin = client_as("admin")
    admin.get(consent(start(admin, "gitlab", "gl-oauth")))
    connection = Connection.objects.get(org=org, name="gl-oauth")
    Connection.objects.filter(pk=connection.pk).update(oauth_expires_at=timezone.now() + timedelta(seconds=30))
    with use_credentials(connection, actor=members["user"], environment="development", purpose="run") as creds:
        assert creds.secrets["token"] == gitlab_fake.access_tokens[1]  # not the one about to expire
    assert AuditEvent.objects.filter(action=AuditAction.CONNECTION_OAUTH_REFRESHED).count() == 1


def test_refresh_refused_marks_the_connection_unhealthy_and_keeps_the_tokens(client_as, gitlab_fake, org):
    admin = client_as("admin")
    admin.get(consent(start(admin, "gitlab", "gl-oauth")))
    connection = Connection.objects.get(org=org, name="gl-oauth")
    stored = load_secrets(connection)
    gitlab_fake.refresh_tokens[stored["refresh_token"]] = False  # the user revoked the app
    Connection.objects.filter(pk=connection.pk).update(oauth_expires_at=timezone.now() + timedelta(minutes=1))
    assert refresh_oauth_tokens() == 0
    connection.refresh_from_db()
    assert connection.health_status == "unhealthy"
    assert "OAuth token refresh failed" in connection.last_check_error
    assert load_secrets(connection) == stored
    event = AuditEvent.objects.get(action=AuditAction.CONNECTION_OAUTH_REFRESHED)
    assert event.details["outcome"] == "failed" and GITLAB_SECRET not in json.dumps(event.details)


def test_github_app_expiring_tokens_are_refreshed_too(client_as, github_fake, org):
    github_fake.expires_in = 28800
    admin = client_as("admin")
    admin.get(consent(start(admin, "github", "gh-app")))
    connection = Connection.objects.get(org=org, name="gh-app")
    assert load_secrets(connection)["refresh_token"].startswith("ghr_")
    Connection.objects.filter(pk=connection.pk).update(oauth_expires_at=timezone.now())
    assert refresh_oauth_tokens() == 1
    connection.refresh_from_db()
    assert load_secrets(connection)["token"] == github_fake.access_tokens[-1]


def test_reconnect_replaces_the_token_of_an_existing_connection(client_as, github_fake, org):
    admin = client_as("admin")
    admin.get(consent(start(admin, "github", "gh-oauth")))
    connection = Connection.objects.get(org=org, name="gh-oauth")
    github_fake.granted_scope = "repo"
    response = admin.post(reverse("connection_oauth", args=["acme", "gh-oauth"]), {"confirm": "on"})
    back = admin.get(consent(authorize_query(leaving_url(response))))
    assert back["Location"] == reverse("connection_detail", args=["acme", "gh-oauth"])
    connection.refresh_from_db()
    assert load_secrets(connection) == {"token": github_fake.access_tokens[1]}
    assert connection.oauth_scopes == ["repo"]
    event = AuditEvent.objects.get(action=AuditAction.CONNECTION_OAUTH_CONNECTED)
    assert event.details["oauth"]["scopes"] == ["repo"]
    assert github_fake.access_tokens[1] not in json.dumps(event.details)


# --- Refusals -------------------------------------------------------------------------------------


def test_forged_state_is_refused_and_nothing_is_exchanged(client_as, github_fake, org):
    admin = client_as("admin")
    callback = consent(start(admin, "github", "gh-oauth"))
    forged = callback.replace("state=", "state=forged")
    response = admin.get(forged)
    assert response.status_code == 400
    assert "nothing was stored" in response.content.decode()
    assert not Connection.objects.filter(org=org).exists()
    assert github_fake.requests_to("POST", "/login/oauth/access_token") == []
    # The forged attempt did not use up a state other than the one it named: the real one still works.
    assert admin.get(callback).status_code == 302


def test_callback_without_state_or_signed_out_is_refused(client, client_as, github_fake, org):
    admin = client_as("admin")
    callback = consent(start(admin, "github", "gh-oauth"))
    assert admin.get(reverse("connection_oauth_callback") + "?code=abc").status_code == 400
    assert client.get(callback).status_code == 400  # anonymous
    assert not Connection.objects.filter(org=org).exists()


def test_reused_code_is_refused_by_the_provider(github_fake, settings):
    support = get_provider("github").oauth
    config = {"base_url": "https://api.github.com"}
    verifier, challenge = pkce_pair()
    redirect = "http://testserver/connections/oauth/callback/"
    url = support.authorize_url(config, state="s" * 43, challenge=challenge, redirect_uri=redirect)
    code = parse_qs(urlsplit(consent_raw(url)).query)["code"][0]
    grant = support.exchange(config, code=code, verifier=verifier, redirect_uri=redirect)
    assert grant.access_token == github_fake.access_tokens[0]
    with pytest.raises(OAuthError) as failure:
        support.exchange(config, code=code, verifier=verifier, redirect_uri=redirect)
    assert failure.value.code == "bad_verification_code"
    assert CLIENT_SECRET not in str(failure.value) and code not in str(failure.value)


def test_wrong_pkce_verifier_is_refused_by_the_provider(gitlab_fake):
    support = get_provider("gitlab").oauth
    config = {"base_url": "https://gitlab.com"}
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    redirect = "http://testserver/connections/oauth/callback/"
    url = support.authorize_url(config, state="s" * 43, challenge=challenge, redirect_uri=redirect)
    code = parse_qs(urlsplit(consent_raw(url)).query)["code"][0]
    with pytest.raises(OAuthError) as failure:
        support.exchange(config, code=code, verifier=other_verifier, redirect_uri=redirect)
    assert failure.value.code == "invalid_grant" and gitlab_fake.pkce_failures == 1
    assert other_verifier not in str(failure.value)


def consent_raw(url: str) -> str:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", f"{parts.path}?{parts.query}")
    response = conn.getresponse()
    location = response.getheader("Location")
    conn.close()
    return location


def test_denied_consent_says_so_and_stores_nothing(client_as, github_fake, org):
    github_fake.consent = "deny"
    admin = client_as("admin")
    callback = consent(start(admin, "github", "gh-oauth"))
    assert "error=access_denied" in callback
    response = admin.get(callback, follow=True)
    assert response.redirect_chain[0][0] == create_url("acme", "github")
    assert "Access was denied on GitHub" in response.content.decode()
    assert not Connection.objects.filter(org=org).exists()
    assert github_fake.requests_to("POST", "/login/oauth/access_token") == []


def test_another_orgs_user_cannot_use_this_orgs_state(client_as, github_fake, org, other_org):
    admin = client_as("admin")
    callback = consent(start(admin, "github", "gh-oauth"))
    attacker = Client()
    attacker.force_login(other_org.memberships.get().user)
    response = attacker.get(callback)
    assert response.status_code == 400
    assert not Connection.objects.exists()
    assert github_fake.requests_to("POST", "/login/oauth/access_token") == []


def test_a_state_is_bound_to_the_user_who_started_it(client_as, github_fake, org, members):
    admin = client_as("admin")
    callback = consent(start(admin, "github", "gh-oauth"))
    # Even with the victim's session data copied into another user's session, the flow names its user.
    other = client_as("viewer")
    session = other.session
    session[SESSION_KEY] = admin.session[SESSION_KEY]
    session.save()
    assert other.get(callback).status_code == 400
    assert not Connection.objects.exists()


def test_only_admins_may_start_a_flow(client_as, github_fake, org, other_org):
    for role in ("viewer", "user", "provisioner"):
        response = client_as(role).post(create_url("acme", "github"), {"name": "gh-oauth"})
        assert response.status_code == 403
    outsider = Client()
    outsider.force_login(other_org.memberships.get().user)
    assert outsider.post(create_url("acme", "github"), {"name": "gh-oauth"}).status_code == 404
    assert github_fake.requests == []


def test_a_demoted_admin_cannot_finish_a_flow(client_as, github_fake, org, members):
    admin = client_as("admin")
    callback = consent(start(admin, "github", "gh-oauth"))
    members["admin"].memberships.filter(org=org).update(role="user")
    assert admin.get(callback).status_code == 403
    assert github_fake.requests_to("POST", "/login/oauth/access_token") == []
    assert not Connection.objects.exists()


def test_reconnect_permissions(client_as, github_fake, org, make_connection, other_org):
    make_connection(org, "github", name="gh-main", auth_method="oauth")
    url = reverse("connection_oauth", args=["acme", "gh-main"])
    assert client_as("user").post(url, {"confirm": "on"}).status_code == 403
    outsider = Client()
    outsider.force_login(other_org.memberships.get().user)
    assert outsider.post(url, {"confirm": "on"}).status_code == 404
    assert client_as("admin").get(url).status_code == 405


def test_draft_errors_are_shown_before_leaving_for_the_provider(client_as, github_fake, org, make_connection):
    make_connection(org, "github", name="gh-taken", auth_method="oauth")
    response = client_as("admin").post(create_url("acme", "github"), {"name": "gh-taken", "organization": "-bad-"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "already exists" in page or "organization" in page.lower()
    assert github_fake.requests == []


def test_oauth_not_configured_is_a_clear_form_error(client_as, settings, org):
    settings.GITHUB_OAUTH_CLIENT_ID = ""
    page = client_as("admin").get(create_url("acme", "github")).content.decode()
    assert "GitHub OAuth is not set up on this platform" in page  # said before the form is filled in
    response = client_as("admin").post(create_url("acme", "github"), {"name": "gh-oauth"})
    assert response.status_code == 200
    assert "GitHub OAuth is not set up on this platform" in response.content.decode()
    assert CLIENT_SECRET not in response.content.decode()


def test_self_managed_gitlab_without_an_app_is_refused_clearly(client_as, org):
    response = client_as("admin").post(
        create_url("acme", "gitlab"), {"name": "gl-self", "base_url": "https://gitlab.example.com"}
    )
    assert "no GitLab OAuth application for https://gitlab.example.com" in response.content.decode()


def test_create_page_offers_connect_button_and_no_token_field(client_as, org):
    page = client_as("admin").get(create_url("acme", "github")).content.decode()
    assert "Connect with GitHub" in page and "not set up" not in page
    assert 'name="token"' not in page and 'name="refresh_token"' not in page


# --- The role table (tests/permissions.py) ---------------------------------------------------------


class TestOAuthRoleTable(PermissionMatrix):
    """Starting a flow (create or reconnect) is managing connections: admins only, another organization's
    connection 404. Starting changes nothing (the connection is created or changed on the callback)."""

    cases = [
        Case.page("post", "/o/{org}/connections/new/github/?auth_method=oauth", Action.MANAGE_CONNECTIONS,
                  body={"name": "gh-flow"}, ok=200),  # 200: the "Continue to GitHub" page
        Case.page("post", "/o/{org}/connections/{conn}/oauth/", Action.MANAGE_CONNECTIONS, body={}, ok=200),
    ]  # fmt: skip

    def objects(self, org: Organization) -> dict[str, Any]:
        name = f"gh-{org.slug}"
        create_connection(org, "github", name=name, auth_method="oauth")
        return {"conn": name}

    def snapshot(self, org: Organization) -> list[tuple]:
        return connections_state(org)


def test_self_managed_gitlab_uses_its_own_app_and_urls(settings):
    app = {"client_id": "self-id", "client_secret": "self-secret"}
    settings.GITLAB_OAUTH_APPS = {"https://gitlab.example.com": app}
    support = get_provider("gitlab").oauth
    config = {"base_url": "https://gitlab.example.com"}
    url = support.authorize_url(config, state="st", challenge="ch", redirect_uri="https://p.example/cb/")
    assert url.startswith("https://gitlab.example.com/oauth/authorize?client_id=self-id&")
    assert "self-secret" not in url and "code_challenge_method=S256" in url
    assert support.token_endpoint(config) == "https://gitlab.example.com/oauth/token"
    assert "self-secret" not in repr(support.app(config))
    # gitlab.com still has no app in this configuration: said clearly, naming the setting.
    with pytest.raises(OAuthUnavailable, match="GITLAB_OAUTH_APPS"):
        support.app({"base_url": "https://gitlab.com"})
