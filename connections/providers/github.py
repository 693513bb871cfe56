"""GitHub and GitHub Enterprise Server: an OAuth access token or a personal access token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from . import validators as v
from .base import AuthMethod, Field, Materialized, Provider
from .contract import CheckContext, CheckResult
from .httpcheck import CheckClient, json_or_empty, text_field

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
    terraform_prefixes = ("github_",)
    resource_kinds = ("GitHub", "GitHub repository")
    destination_fields = ("base_url",)
    endpoints = {
        "github": "https://api.github.com",
    }
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

    def check(
        self, auth_method: str, config: Mapping[str, Any], secrets: Mapping[str, Any], ctx: CheckContext
    ) -> CheckResult:
        """``GET /user`` with the token, then ``GET /orgs/{organization}`` when one is configured.

        The user call proves the token; the organization call proves the token can see the owner runs
        will use, which is the most common surprise (an OAuth app not approved by the organization,
        a fine-grained token created under another owner). An organization equal to the token's own
        login is a user account, which ``/orgs`` does not know, so it needs no second call.
        """
        base = self._api_base(config, ctx)
        client = CheckClient(
            ctx,
            "GitHub",
            secrets=secrets,
            headers={
                "Authorization": f"Bearer {secrets['token']}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )
        response = client.call("GET", f"{base}/user")
        body = json_or_empty(response)
        if response.status != 200:
            message = text_field(body, "message")
            if response.status == 401:
                raise client.failed(message or "Bad credentials")
            raise client.unexpected(response, message)
        login = text_field(body, "login")
        # Fine-grained tokens and GitHub App tokens have no OAuth scopes: the header is then absent.
        header = response.headers.get("x-oauth-scopes")
        scopes = [scope.strip() for scope in header.split(",") if scope.strip()] if header is not None else None
        organization = config.get("organization") or ""
        if organization and organization.lower() != login.lower():
            self._check_organization(client, base, organization)
        where = f" with access to {organization}" if organization else ""
        return client.result(
            f"Authenticated to GitHub as {login}{where}.",
            {"login": login, "scopes": scopes, "organization": organization or None},
        )

    @staticmethod
    def _api_base(config: Mapping[str, Any], ctx: CheckContext) -> str:
        """The connection's GitHub Enterprise URL, or the platform's GitHub endpoint for github.com."""
        base_url = str(config.get("base_url") or "").rstrip("/")
        return base_url if base_url and base_url != DEFAULT_API_URL else ctx.endpoint("github")

    @staticmethod
    def _check_organization(client: CheckClient, base: str, organization: str) -> None:
        response = client.call("GET", f"{base}/orgs/{quote(organization, safe='')}")
        if response.status == 200:
            return
        if response.status == 404:
            raise client.failed(f"Organization '{organization}' not found or not visible to this token.")
        # 403 carries GitHub's explanation, e.g. SAML single sign-on not authorized for this token.
        raise client.unexpected(response, text_field(json_or_empty(response), "message"))
