"""Connection checks of the SaaS providers against local fakes of their APIs, over real sockets.

Each provider gets a success (with what the check reports) and its typical failure (with the
provider's own reason); every test also checks that the fake received exactly the documented
authentication and that no secret leaks into a reason or a result. The fakes listen on loopback,
which the SSRF guard refuses unless the operator allows it: ``NETGUARD_ALLOWED_NETWORKS`` does.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connections.providers import get_provider
from connections.providers.contract import CheckContext, CheckFailed, CheckResult
from tests.connections.provider_examples import valid_examples
from tests.fakes.saas import (
    CivoFake,
    CloudflareFake,
    DigitalOceanFake,
    DockerHubFake,
    GitHubFake,
    GitLabFake,
    ScalewayFake,
)

ACCOUNT_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def loopback_allowed(settings, monkeypatch) -> None:
    """Fakes live on 127.0.0.1: the operator allow-list opens it; environment overrides must not interfere."""
    settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.PROVIDER_ENDPOINTS = {}
    for name in ("github", "gitlab", "dockerhub", "digitalocean", "scaleway", "civo", "cloudflare"):
        monkeypatch.delenv(f"PROVIDER_ENDPOINT_{name.upper()}", raising=False)


def example(provider: str, auth_method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return valid_examples()[provider][auth_method]


def context(name: str = "conn", timeout: float = 5, extra_ca_data: str = "") -> CheckContext:
    ctx = CheckContext(org_slug="acme", connection_name=name, timeout=timeout)
    if extra_ca_data:  # what the test service copies from settings.EXTRA_CA_DATA
        ctx.extra_ca_data = extra_ca_data
    return ctx


def run(provider: str, auth_method: str, config: dict[str, Any], secrets: dict[str, Any], **kw: Any) -> CheckResult:
    return get_provider(provider).check(auth_method, config, secrets, context(**kw))


def fail(provider: str, auth_method: str, config: dict[str, Any], secrets: dict[str, Any], **kw: Any) -> str:
    """Run a check that must fail; return its reason after checking it holds no secret."""
    with pytest.raises(CheckFailed) as caught:
        run(provider, auth_method, config, secrets, **kw)
    assert_no_secret(caught.value.reason + json.dumps(caught.value.details), secrets)
    return caught.value.reason


def assert_no_secret(text: str | CheckResult, *payloads: Any) -> None:
    if isinstance(text, CheckResult):
        text = text.message + json.dumps(text.details)
    for payload in payloads:
        values = payload.values() if isinstance(payload, dict) else [payload]
        for value in values:
            assert str(value) not in text


def only_auth_headers(request: Any, expected: dict[str, str], absent: tuple[str, ...] = ()) -> None:
    for name, value in expected.items():
        assert request.header(name) == value
    for name in absent:
        assert request.header(name) is None


# --------------------------------------------------------------------------------------------------
# GitHub
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def github(settings) -> Iterator[GitHubFake]:
    _config, secrets = example("github", "oauth")
    with GitHubFake(secrets["token"], organizations=("acme-corp",)) as fake:
        settings.PROVIDER_ENDPOINTS = {"github": fake.url}
        yield fake


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


def test_guard_refusal_becomes_a_readable_reason(github, settings):
    settings.NETGUARD_ALLOWED_NETWORKS = []
    config, secrets = example("github", "oauth")

    reason = fail("github", "oauth", config, secrets)

    assert reason == "Could not reach GitHub: Refused to connect to '127.0.0.1': it is 127.0.0.1, a loopback address."
    assert github.requests == []


# --------------------------------------------------------------------------------------------------
# GitLab
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Docker Hub
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def dockerhub(settings) -> Iterator[DockerHubFake]:
    config, secrets = example("dockerhub", "pat")
    with DockerHubFake(username=config["namespace"], token=secrets["token"]) as fake:
        settings.PROVIDER_ENDPOINTS = {"dockerhub": fake.url}
        yield fake


def test_dockerhub_login_succeeds_and_drops_the_session_token(dockerhub):
    config, secrets = example("dockerhub", "pat")

    result = run("dockerhub", "pat", config, secrets)

    assert result.message == "Logged in to Docker Hub as acmecorp."
    assert result.details == {"username": "acmecorp"}
    (request,) = dockerhub.requests
    assert (request.method, request.path) == ("POST", "/v2/users/login")
    assert request.json() == {"username": "acmecorp", "password": secrets["token"]}
    assert request.header("Content-Type") == "application/json"
    assert request.header("Authorization") is None
    assert_no_secret(result, secrets, DockerHubFake.session_token)


def test_dockerhub_bad_token_fails_with_the_hubs_detail(dockerhub):
    config, secrets = example("dockerhub", "pat")
    secrets["token"] = "dckr_pat_" + "x" * 20

    assert fail("dockerhub", "pat", config, secrets) == "Incorrect authentication credentials"


# --------------------------------------------------------------------------------------------------
# DigitalOcean, Scaleway, Civo, Cloudflare
# --------------------------------------------------------------------------------------------------


def test_digitalocean_reports_account_email_and_status(settings):
    config, secrets = example("digitalocean", "api_token")
    with DigitalOceanFake(secrets["token"]) as fake:
        settings.PROVIDER_ENDPOINTS = {"digitalocean": fake.url}

        result = run("digitalocean", "api_token", config, secrets)

        assert result.message == "Authenticated to DigitalOcean as sammy@example.com (account active)."
        assert result.details == {"email": "sammy@example.com", "status": "active", "team": "Acme Platform"}
        only_auth_headers(fake.requests[0], {"Authorization": f"Bearer {secrets['token']}"})
        assert fake.requests[0].path == "/v2/account"


def test_digitalocean_bad_token_and_locked_account(settings):
    config, secrets = example("digitalocean", "api_token")
    with DigitalOceanFake("dop_v1_" + "f" * 64) as fake:
        settings.PROVIDER_ENDPOINTS = {"digitalocean": fake.url}
        assert fail("digitalocean", "api_token", config, secrets) == "Unable to authenticate you"
    with DigitalOceanFake(secrets["token"], status="locked") as fake:
        settings.PROVIDER_ENDPOINTS = {"digitalocean": fake.url}
        assert fail("digitalocean", "api_token", config, secrets) == "Your account is locked: contact support."


def test_scaleway_reads_the_keys_own_record_with_x_auth_token(settings):
    config, secrets = example("scaleway", "api_token")
    fake_args = {"access_key": config["access_key"], "secret_key": secrets["secret_key"], "project_id": "p-1"}
    with ScalewayFake(**fake_args) as fake:
        settings.PROVIDER_ENDPOINTS = {"scaleway": fake.url}

        result = run("scaleway", "api_token", config, secrets)

        assert result.message == "Scaleway API key SCWABCDEFGHJKMNPQRST is valid."
        assert result.details["default_project_id"] == "p-1"
        (request,) = fake.requests
        assert request.path == "/iam/v1alpha1/api-keys/SCWABCDEFGHJKMNPQRST"
        only_auth_headers(request, {"X-Auth-Token": secrets["secret_key"]}, absent=("Authorization",))
        assert_no_secret(result, secrets)


def test_scaleway_wrong_secret_and_wrong_access_key(settings):
    config, secrets = example("scaleway", "api_token")
    with ScalewayFake(access_key=config["access_key"], secret_key=secrets["secret_key"], project_id="p") as fake:
        settings.PROVIDER_ENDPOINTS = {"scaleway": fake.url}
        wrong = {"secret_key": "00000000-0000-4000-8000-000000000000"}
        assert fail("scaleway", "api_token", config, wrong) == "authentication is denied"

        config["access_key"] = "SCWZZZZZZZZZZZZZZZZZ"
        reason = fail("scaleway", "api_token", config, secrets)
        assert reason == "Access key SCWZZZZZZZZZZZZZZZZZ not found (resource is not found)."


def test_civo_lists_regions_with_a_lowercase_bearer(settings):
    config, secrets = example("civo", "api_token")
    with CivoFake(secrets["token"]) as fake:
        settings.PROVIDER_ENDPOINTS = {"civo": fake.url}

        result = run("civo", "api_token", config, secrets)

        assert result.details == {"regions": ["LON1", "NYC1", "FRA1", "PHX1"]}
        assert fake.requests[0].path == "/v2/regions"
        only_auth_headers(fake.requests[0], {"Authorization": f"bearer {secrets['token']}"})


def test_civo_bad_key_and_unavailable_region(settings):
    config, secrets = example("civo", "api_token")
    with CivoFake(secrets["token"], regions=("LON1",)) as fake:
        settings.PROVIDER_ENDPOINTS = {"civo": fake.url}
        assert fail("civo", "api_token", config, {"token": "x" * 40}) == "The API key provided is invalid"
        reason = fail("civo", "api_token", config, secrets)
        assert reason == "Region FRA1 is not available to this account (available: LON1)."


@pytest.fixture
def cloudflare_secrets() -> dict[str, Any]:
    return example("cloudflare", "api_token")[1]


def test_cloudflare_verifies_the_token_and_the_account(settings, cloudflare_secrets):
    config, secrets = example("cloudflare", "api_token")
    with CloudflareFake(secrets["token"], accounts={ACCOUNT_ID: "Acme"}) as fake:
        settings.PROVIDER_ENDPOINTS = {"cloudflare": fake.url}

        result = run("cloudflare", "api_token", config, secrets)

        assert result.message == "Cloudflare API token is active for account Acme."
        assert result.details["token_status"] == "active"
        assert [r.path for r in fake.requests] == ["/user/tokens/verify", f"/accounts/{ACCOUNT_ID}"]
        for request in fake.requests:
            only_auth_headers(request, {"Authorization": f"Bearer {secrets['token']}"})
        assert_no_secret(result, secrets)


@pytest.mark.parametrize(
    ("fake_kwargs", "use_token", "reason"),
    [
        ({"status": "disabled"}, True, "The API token is disabled."),
        ({}, False, "Invalid API Token"),
        ({"accounts": {}}, True, f"Account {ACCOUNT_ID} is not accessible with this token "
                                 "(Unauthorized to access requested resource)."),
    ],
    ids=["inactive-token", "unknown-token", "no-account-access"],
)  # fmt: skip
def test_cloudflare_failures(settings, fake_kwargs, use_token, reason):
    config, secrets = example("cloudflare", "api_token")
    token = secrets["token"] if use_token else "cfToken_" + "9" * 40
    with CloudflareFake(token, **{"accounts": {ACCOUNT_ID: "Acme"}, **fake_kwargs}) as fake:
        settings.PROVIDER_ENDPOINTS = {"cloudflare": fake.url}

        assert fail("cloudflare", "api_token", config, secrets) == reason


# --------------------------------------------------------------------------------------------------
# Transport failures
# --------------------------------------------------------------------------------------------------


def test_a_closed_port_is_a_readable_reason(settings):
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.PROVIDER_ENDPOINTS = {"civo": f"http://127.0.0.1:{port}"}
    config, secrets = example("civo", "api_token")

    assert (
        fail("civo", "api_token", config, secrets) == f"Could not reach Civo: 127.0.0.1:{port} refused the connection"
    )


def test_the_whole_check_is_bounded_by_ctx_timeout(settings):
    config, secrets = example("digitalocean", "api_token")
    with DigitalOceanFake(secrets["token"]) as fake:
        fake.delay = 3
        settings.PROVIDER_ENDPOINTS = {"digitalocean": fake.url}
        started = time.monotonic()

        reason = fail("digitalocean", "api_token", config, secrets, timeout=0.5)

        assert time.monotonic() - started < 2
        assert reason.startswith("Could not reach DigitalOcean: ")
        assert "did not answer within 0.5 seconds" in reason


def test_a_provider_echoing_the_token_never_leaks_it(settings):
    """Provider messages are untrusted text: a reason quoting the token is scrubbed before it leaves."""
    config, secrets = example("github", "oauth")

    class EchoingGitHub(GitHubFake):
        def user(self, request, match):
            from tests.fakes.http import json_reply

            return json_reply(401, {"message": f"Bad credentials for {request.header('Authorization')}"})

    with EchoingGitHub("gho_other") as fake:
        settings.PROVIDER_ENDPOINTS = {"github": fake.url}

        reason = fail("github", "oauth", config, secrets)

        assert reason == "Bad credentials for Bearer [masked]"
