"""Docker Hub (connections/providers/dockerhub.py): the check against a local fake of its login API, and
materialization."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connections.providers.checks_saas import (
    assert_no_secret,
    example,
    fail,
    loopback_allowed,  # noqa: F401
    run,
)
from tests.connections.providers.conftest import materialized
from tests.fakes.saas import DockerHubFake


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


# --- Materialization ------------------------------------------------------------------------------


def test_dockerhub_config_file(tmp_path: Path) -> None:
    out = materialized("dockerhub", "pat")
    env = out.write(tmp_path)
    assert env["DOCKER_CONFIG"] == str(tmp_path / "docker")
    assert stat.S_IMODE((tmp_path / "docker").stat().st_mode) == 0o700
    data = json.loads((tmp_path / "docker" / "config.json").read_text())
    auth = data["auths"]["https://index.docker.io/v1/"]["auth"]
    assert base64.b64decode(auth).decode() == "acmecorp:dckr_pat_AbCdEfGhIjKlMnOpQrStUvWxYz0"
    assert auth in out.sensitive
