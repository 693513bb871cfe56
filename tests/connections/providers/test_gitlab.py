"""GitLab (connections/providers/gitlab.py): the check against a local fake of its API (self-managed and
gitlab.com, personal and OAuth tokens), and materialization."""

from __future__ import annotations

from tests.connections.providers.checks_saas import (
    assert_no_secret,
    example,
    fail,
    loopback_allowed,  # noqa: F401
    only_auth_headers,
    run,
)
from tests.connections.providers.conftest import materialized
from tests.fakes.saas import GitLabFake


def test_gitlab_self_managed_pat_sends_private_token_and_reads_scopes():
    config, secrets = example("gitlab", "pat")
    with GitLabFake(pat=secrets["token"], tls=True) as fake:
        config["base_url"] = fake.url

        result = run("gitlab", "pat", config, secrets, extra_ca_data=fake.ca_pem)

        assert result.message == "Authenticated to GitLab as tanuki with access to platform/infra."
        assert result.details["scopes"] == ["api", "read_repository"]
        assert result.details["expires_at"] == "2026-12-31"
        paths = [r.path for r in fake.requests]
        assert paths == ["/api/v4/user", "/api/v4/personal_access_tokens/self", "/api/v4/groups/platform%2Finfra"]
        for request in fake.requests:
            only_auth_headers(request, {"PRIVATE-TOKEN": secrets["token"]}, absent=("Authorization",))
        assert fake.requests[-1].query == {"with_projects": ["false"]}
        assert_no_secret(result, secrets)


def test_gitlab_oauth_uses_bearer_on_the_platform_endpoint(settings):
    config, secrets = example("gitlab", "oauth")
    with GitLabFake(oauth_token=secrets["token"]) as fake:
        settings.PROVIDER_ENDPOINTS = {"gitlab": fake.url}

        result = run("gitlab", "oauth", config, secrets)

        assert result.details["username"] == "tanuki"
        assert result.details["scopes"] is None  # the token-self endpoint is for access tokens only
        assert [r.path for r in fake.requests] == ["/api/v4/user"]
        only_auth_headers(fake.requests[0], {"Authorization": f"Bearer {secrets['token']}"}, absent=("PRIVATE-TOKEN",))


def test_gitlab_before_15_5_passes_without_scopes(settings):
    config, secrets = example("gitlab", "pat")
    config.pop("organization")
    with GitLabFake(pat=secrets["token"], legacy=True) as fake:
        config["base_url"] = fake.url

        result = run("gitlab", "pat", config, secrets)

        assert result.details["scopes"] is None
        assert fake.requests[-1].path == "/api/v4/personal_access_tokens/self"


def test_gitlab_bad_token_fails_with_gitlabs_message():
    config, secrets = example("gitlab", "pat")
    with GitLabFake(pat="glpat-SomeOtherTokenValue0") as fake:
        config["base_url"] = fake.url

        assert fail("gitlab", "pat", config, secrets) == "401 Unauthorized"
        assert len(fake.requests) == 1


def test_gitlab_unknown_group_fails():
    config, secrets = example("gitlab", "pat")
    with GitLabFake(pat=secrets["token"], groups=("other",)) as fake:
        config["base_url"] = fake.url

        assert (
            fail("gitlab", "pat", config, secrets) == "Group 'platform/infra' not found or not visible to this token."
        )


# --- Materialization ----------------------------------------------------------------------------------


def test_gitlab_env_values() -> None:
    env = materialized("gitlab", "pat").env
    assert env["GITLAB_BASE_URL"] == "https://gitlab.example.com/api/v4/"
    assert env["CI_SERVER_URL"] == "https://gitlab.example.com"
