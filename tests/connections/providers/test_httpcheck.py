"""The SaaS checks' HTTP client (connections/providers/httpcheck.py): what a refused, closed, slow or echoing
peer becomes (a readable reason, bounded by the context's timeout, with no secret in it)."""

from __future__ import annotations

import socket
import time

from tests.connections.providers.checks_saas import (
    example,
    fail,
    github,  # noqa: F401
    loopback_allowed,  # noqa: F401
)
from tests.fakes.http import json_reply
from tests.fakes.saas import DigitalOceanFake, GitHubFake


def test_guard_refusal_becomes_a_readable_reason(github, settings):
    settings.NETGUARD_ALLOWED_NETWORKS = []
    config, secrets = example("github", "oauth")

    reason = fail("github", "oauth", config, secrets)

    assert reason == "Could not reach GitHub: Refused to connect to '127.0.0.1': it is 127.0.0.1, a loopback address."
    assert github.requests == []


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
            return json_reply(401, {"message": f"Bad credentials for {request.header('Authorization')}"})

    with EchoingGitHub("gho_other") as fake:
        settings.PROVIDER_ENDPOINTS = {"github": fake.url}

        reason = fail("github", "oauth", config, secrets)

        assert reason == "Bad credentials for Bearer [masked]"
