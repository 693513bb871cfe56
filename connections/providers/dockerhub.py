"""Docker Hub: a personal (or organization) access token for pulling and pushing images."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider, b64
from .contract import CheckContext, CheckResult
from .httpcheck import CheckClient, json_or_empty, text_field

DEFAULT_REGISTRY_URL = "https://index.docker.io/v1/"
DOCKER_CONFIG_FILE = "docker/config.json"


class DockerHubProvider(Provider):
    """Docker Hub connection.

    Materializes a Docker client config (``docker/config.json``, with ``DOCKER_CONFIG`` pointing at
    its directory through the ``{dir:docker}`` placeholder) plus ``DOCKER_REGISTRY_USER``/``_PASS``
    for Terraform's docker provider. A run combining several registry connections would clash on
    that file (`Materialized.merged` raises): merge their ``auths`` first.
    """

    code = "dockerhub"
    destination_fields = ("registry_url",)
    endpoints = {
        "dockerhub": "https://hub.docker.com",
    }
    label = "Docker Hub"
    category = "registry"
    description = "Docker Hub repositories through a personal or organization access token."
    icon = "DH"
    color = "#1d63ed"
    test_description = "Registry login with the token."
    auth_methods = (AuthMethod("pat", "Access token", "A personal (dckr_pat_) or organization access token."),)
    fields = (
        Field("namespace", "Namespace", "string", validators=(v.dockerhub_namespace,),
              help_text="Docker Hub username (or organization for an organization access token)."),
        Field("registry_url", "Registry URL", "url", default=DEFAULT_REGISTRY_URL, validators=(v.https_url,)),
        Field("token", "Access token", "string", secret=True, validators=(v.token_min_length(16),)),
    )  # fmt: skip
    summary_fields = ("namespace",)

    def _materialize(
        self,
        auth_method: str,
        config: dict[str, Any],
        secrets: dict[str, Any],
        *,
        ref: Materialized | None,
        ref_config: dict[str, Any],
    ) -> Materialized:
        out = Materialized()
        registry, user, token = config["registry_url"], config["namespace"], secrets["token"]
        auth = b64(f"{user}:{token}")
        out.sensitive.add(auth)
        out.add_file(DOCKER_CONFIG_FILE, json.dumps({"auths": {registry: {"auth": auth}}}, indent=2))
        out.set_env("DOCKER_CONFIG", "{dir:docker}")
        out.set_env("DOCKER_REGISTRY", registry)
        out.set_env("DOCKER_REGISTRY_USER", user)
        out.set_secret_env("DOCKER_REGISTRY_PASS", token)
        return out

    def check(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: CheckContext
    ) -> CheckResult:
        """``POST /v2/users/login`` with the namespace and the access token, as ``docker login`` does.

        Success returns a Hub session JWT: it is a credential in its own right, so it is only checked
        for presence and then dropped, never returned or logged.
        """
        namespace = config["namespace"]
        client = CheckClient(ctx, "Docker Hub", secrets=secrets)
        response = client.call(
            "POST",
            f"{ctx.endpoint('dockerhub')}/v2/users/login",
            json_body={"username": namespace, "password": secrets["token"]},
        )
        body = json_or_empty(response)
        if response.status == 200 and text_field(body, "token"):
            return client.result(f"Logged in to Docker Hub as {namespace}.", {"username": namespace})
        message = text_field(body, "detail", "message")
        if response.status in (401, 403):
            raise client.failed(message or "Incorrect authentication credentials")
        if response.status == 200:
            raise client.failed("Docker Hub accepted the login but returned no session token.")
        raise client.unexpected(response, message)
