"""GitLab.com and self-managed GitLab: an OAuth access token or a personal/group access token."""

from __future__ import annotations

import re
from typing import Any

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider

DEFAULT_BASE_URL = "https://gitlab.com"


def gitlab_base_url(value: Any) -> str:
    """The instance's https root URL; a pasted ``/api/v4`` suffix or trailing slash is removed."""
    value = v.https_url(value).rstrip("/")
    return re.sub(r"/api/v4$", "", value)


class GitLabProvider(Provider):
    """GitLab connection; ``base_url`` is the instance root (https only, self-managed allowed)."""

    code = "gitlab"
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
