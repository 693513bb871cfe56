"""GitLab.com and self-managed GitLab: an OAuth access token or a personal/group access token."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider
from .contract import CheckContext, CheckResult
from .httpcheck import CheckClient, json_or_empty, text_field

DEFAULT_BASE_URL = "https://gitlab.com"


def gitlab_base_url(value: Any) -> str:
    """The instance's https root URL; a pasted ``/api/v4`` suffix or trailing slash is removed."""
    value = v.https_url(value).rstrip("/")
    return re.sub(r"/api/v4$", "", value)


class GitLabProvider(Provider):
    """GitLab connection; ``base_url`` is the instance root (https only, self-managed allowed)."""

    code = "gitlab"
    terraform_prefixes = ("gitlab_",)
    resource_kinds = ("GitLab", "GitLab project")
    destination_fields = ("base_url",)
    endpoints = {
        "gitlab": "https://gitlab.com",
    }
    label = "GitLab"
    category = "git"
    description = "GitLab.com or self-managed GitLab groups and projects."
    icon = "GL"
    color = "#fc6d26"
    test_description = "GET /api/v4/user."
    auth_methods = (
        AuthMethod("oauth", "OAuth app", "An access token obtained through the platform's OAuth app."),
        AuthMethod("pat", "Access token", "A personal, group or project access token (glpat-...)."),
    )
    fields = (
        Field("base_url", "GitLab URL", "url", default=DEFAULT_BASE_URL, validators=(gitlab_base_url,),
              help_text="https://gitlab.com or your self-managed instance's https URL."),
        Field("organization", "Group", "string", required=False, validators=(v.gitlab_group_path,),
              help_text="Group path, e.g. platform or platform/infra."),
        Field("token", "Token", "string", secret=True, validators=(v.gitlab_token,)),
    )  # fmt: skip
    summary_fields = ("organization", "base_url")

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
        base_url = config["base_url"].rstrip("/")
        out.set_secret_env("GITLAB_TOKEN", secrets["token"])
        out.set_env("GITLAB_BASE_URL", f"{base_url}/api/v4/")  # what Terraform's gitlab provider expects
        out.set_env("CI_SERVER_URL", base_url)
        if config.get("organization"):
            out.set_env("GITLAB_GROUP", config["organization"])
        return out

    def check(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: CheckContext
    ) -> CheckResult:
        """``GET /api/v4/user``; for an access token also its own record (scopes, expiry); then the group.

        Access tokens go in ``PRIVATE-TOKEN``, OAuth tokens in ``Authorization: Bearer``, as GitLab
        documents. ``/personal_access_tokens/self`` exists since GitLab 15.5: older instances answer
        404 and the check still passes, with the scopes unknown. A self-managed instance with a
        company certificate needs the operator's extra CA (see `httpcheck.trusted_ca_data`).
        """
        base = self._instance_url(config, ctx)
        token = secrets["token"]
        auth = {"PRIVATE-TOKEN": token} if auth_method == "pat" else {"Authorization": f"Bearer {token}"}
        client = CheckClient(ctx, "GitLab", secrets=secrets, headers=auth)
        response = client.call("GET", f"{base}/api/v4/user")
        body = json_or_empty(response)
        if response.status != 200:
            # An expired or revoked token says so in error_description; a plain bad one in message.
            message = text_field(body, "error_description", "message", "error")
            if response.status == 401:
                raise client.failed(message or "401 Unauthorized")
            raise client.unexpected(response, message)
        username = text_field(body, "username")
        details: dict[str, Any] = {"username": username, "scopes": None, "expires_at": None}
        if auth_method == "pat":
            details.update(self._token_facts(client, base))
        group = config.get("organization") or ""
        if group:
            self._check_group(client, base, group)
        where = f" with access to {group}" if group else ""
        return client.result(f"Authenticated to GitLab as {username}{where}.", {**details, "group": group or None})

    @staticmethod
    def _instance_url(config: Mapping[str, Any], ctx: CheckContext) -> str:
        """The connection's self-managed instance, or the platform's GitLab endpoint for gitlab.com."""
        base_url = str(config.get("base_url") or "").rstrip("/")
        return base_url if base_url and base_url != DEFAULT_BASE_URL else ctx.endpoint("gitlab")

    @staticmethod
    def _token_facts(client: CheckClient, base: str) -> dict[str, Any]:
        """Scopes and expiry of the token itself; nothing when the instance cannot tell (404 before 15.5)."""
        response = client.call("GET", f"{base}/api/v4/personal_access_tokens/self")
        body = json_or_empty(response)
        if response.status != 200 or not isinstance(body, Mapping):
            return {}
        scopes = body.get("scopes")
        return {
            "scopes": [str(scope) for scope in scopes] if isinstance(scopes, list) else None,
            "expires_at": body.get("expires_at"),
        }

    @staticmethod
    def _check_group(client: CheckClient, base: str, group: str) -> None:
        # A group path is one URL segment with its slashes encoded, as the API documents for :id; without
        # with_projects=false a large group's answer lists every project and can exceed the size limit.
        response = client.call("GET", f"{base}/api/v4/groups/{quote(group, safe='')}?with_projects=false")
        if response.status == 200:
            return
        if response.status == 404:
            raise client.failed(f"Group '{group}' not found or not visible to this token.")
        raise client.unexpected(response, text_field(json_or_empty(response), "message", "error"))
