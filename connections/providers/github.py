"""GitHub and GitHub Enterprise Server: an OAuth access token or a personal access token."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider

DEFAULT_API_URL = "https://api.github.com"


def github_api_url(value: Any) -> str:
    """An https API URL, normalized from what people paste.

    ``https://github.com`` means the public API; a bare GitHub Enterprise Server host gets its
    ``/api/v3`` path (GHE.com's ``api.<tenant>.ghe.com`` hosts serve the API at the root).
    """
    value = v.https_url(value).rstrip("/")
    parts = urlsplit(value)
    host = parts.hostname or ""
    if host in ("github.com", "www.github.com"):
        return DEFAULT_API_URL
    if not parts.path and not host.startswith("api."):
        return f"{value}/api/v3"
    return value


class GitHubProvider(Provider):
    """GitHub connection; ``base_url`` points at GitHub Enterprise Server's ``/api/v3`` when self-hosted."""

    code = "github"
    label = "GitHub"
    category = "git"
    description = "GitHub.com or GitHub Enterprise Server repositories and organizations."
    icon = "GH"
    color = "#24292f"
    test_description = "GET /user."
    auth_methods = (
        AuthMethod("oauth", "OAuth app", "An access token obtained through the platform's OAuth app."),
        AuthMethod("pat", "Personal access token", "A fine-grained (github_pat_) or classic (ghp_) token."),
    )
    fields = (
        Field("base_url", "API URL", "url", default=DEFAULT_API_URL, validators=(github_api_url,),
              help_text="https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server."),
        Field("organization", "Organization", "string", required=False, validators=(v.github_login,),
              help_text="Owner used by default (organization or user login)."),
        Field("token", "Token", "string", secret=True, validators=(v.github_token,)),
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
        out.set_secret_env("GITHUB_TOKEN", secrets["token"])
        out.set_secret_env("GH_TOKEN", secrets["token"])
        base_url = config["base_url"].rstrip("/")
        out.set_env("GITHUB_API_URL", base_url)
        out.set_env("GITHUB_BASE_URL", base_url + "/")  # Terraform's github provider wants the trailing slash
        host = urlsplit(base_url).hostname or ""
        if host != "api.github.com":
            out.set_env("GH_HOST", host.removeprefix("api."))  # the gh CLI wants the web host
        if config.get("organization"):
            out.set_env("GITHUB_OWNER", config["organization"])
        return out
