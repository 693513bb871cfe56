"""GitHub (connections/providers/github.py): the check against a local fake of its API (github.com and
Enterprise Server over TLS, OAuth and personal tokens), and materialization."""

from __future__ import annotations

from tests.connections.providers.checks_saas import (
    assert_no_secret,
    example,
    fail,
    github,  # noqa: F401
    loopback_allowed,  # noqa: F401
    only_auth_headers,
    run,
)
from tests.connections.providers.conftest import materialized
from tests.fakes.saas import GitHubFake


def test_github_oauth_reports_login_scopes_and_checks_the_organization(github):
    config, secrets = example("github", "oauth")

    result = run("github", "oauth", config, secrets)

    assert result.message == "Authenticated to GitHub as octocat with access to acme-corp."
    assert result.details["login"] == "octocat"
    assert result.details["scopes"] == ["repo", "read:org"]
    assert [r.path for r in github.requests] == ["/user", "/orgs/acme-corp"]
    for request in github.requests:
        only_auth_headers(request, {"Authorization": f"Bearer {secrets['token']}"})
    assert_no_secret(result, secrets)


def test_github_bad_token_fails_with_githubs_message(github):
    config, secrets = example("github", "oauth")
    secrets["token"] = "gho_" + "Z" * 36

    assert fail("github", "oauth", config, secrets) == "Bad credentials"
    assert [r.path for r in github.requests] == ["/user"]


def test_github_unknown_organization_fails(github):
    config, secrets = example("github", "oauth")
    config["organization"] = "globex"

    reason = fail("github", "oauth", config, secrets)

    assert reason == "Organization 'globex' not found or not visible to this token."


def test_github_organization_equal_to_the_login_is_a_user_account(github):
    config, secrets = example("github", "oauth")
    config["organization"] = "OctoCat"

    result = run("github", "oauth", config, secrets)

    assert result.details["organization"] == "OctoCat"
    assert [r.path for r in github.requests] == ["/user"]


def test_github_enterprise_server_over_tls_trusts_the_extra_ca():
    config, secrets = example("github", "pat")
    with GitHubFake(secrets["token"], scopes=None, organizations=("platform",), prefix="/api/v3", tls=True) as fake:
        config["base_url"] = f"{fake.url}/api/v3"

        result = run("github", "pat", config, secrets, extra_ca_data=fake.ca_pem)

        assert result.details == {"login": "octocat", "scopes": None, "organization": "platform"}
        assert [r.path for r in fake.requests] == ["/api/v3/user", "/api/v3/orgs/platform"]


def test_github_enterprise_with_an_untrusted_certificate_fails_on_tls():
    config, secrets = example("github", "pat")
    with GitHubFake(secrets["token"], prefix="/api/v3", tls=True) as fake:
        config["base_url"] = f"{fake.url}/api/v3"

        reason = fail("github", "pat", config, secrets)

        assert reason.startswith("Could not reach GitHub: the TLS certificate of 127.0.0.1:")
        assert "could not be verified" in reason
        assert fake.requests == []


# --- Materialization ------------------------------------------------------------------------------


def test_github_env_values() -> None:
    env = materialized("github", "pat").env
    assert env["GITHUB_API_URL"] == "https://ghe.example.com/api/v3"
    assert env["GITHUB_OWNER"] == "platform"
    assert env["GITHUB_TOKEN"] == env["GH_TOKEN"]
