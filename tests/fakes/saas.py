"""Fakes of the SaaS APIs our connection checks call: GitHub, GitLab, Docker Hub, DigitalOcean,
Scaleway, Civo and Cloudflare.

Each answers only the routes its check uses, with the status codes and JSON error bodies the
provider documents, and accepts only the credentials it was built with, so a test can tell "the
check sent the right header" from "the check passed anyway".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from .http import FakeServer, RecordedRequest, Reply, Route, json_reply

__all__ = [
    "CivoFake",
    "CloudflareFake",
    "DigitalOceanFake",
    "DockerHubFake",
    "GitHubFake",
    "GitLabFake",
    "ScalewayFake",
    "bearer_token",
]


def bearer_token(request: RecordedRequest) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme is case-insensitive)."""
    value = request.header("Authorization") or ""
    scheme, _, token = value.partition(" ")
    return token if scheme.lower() == "bearer" and token else None


# --------------------------------------------------------------------------------------------------
# Git providers
# --------------------------------------------------------------------------------------------------


class GitHubFake(FakeServer):
    """GitHub REST API: ``GET /user`` and ``GET /orgs/{org}``.

    `scopes=None` mimics fine-grained tokens, for which GitHub sends no ``X-OAuth-Scopes`` header.
    `prefix` is ``/api/v3`` for a GitHub Enterprise Server fake.
    """

    service = "github"
    _DOCS = "https://docs.github.com/rest"

    def __init__(
        self,
        token: str,
        *,
        login: str = "octocat",
        scopes: tuple[str, ...] | None = ("repo", "read:org"),
        organizations: Iterable[str] = ("acme-corp",),
        prefix: str = "",
        **kwargs: Any,
    ) -> None:
        self.token, self.login, self.scopes, self.prefix = token, login, scopes, prefix
        self.organizations = {org.lower(): org for org in organizations}
        super().__init__(**kwargs)

    def routes(self) -> Iterable[Route]:
        prefix = re.escape(self.prefix)
        return (
            Route("GET", f"{prefix}/user", self.user),
            Route("GET", f"{prefix}/orgs/([^/]+)", self.org),
        )

    def not_found(self, request: RecordedRequest) -> Reply:
        return json_reply(404, {"message": "Not Found", "documentation_url": self._DOCS, "status": "404"})

    def _headers(self) -> dict[str, str]:
        headers = {"X-GitHub-Media-Type": "github.v3; format=json", "X-RateLimit-Remaining": "4999"}
        if self.scopes is not None:
            headers["X-OAuth-Scopes"] = ", ".join(self.scopes)
        return headers

    def _unauthorized(self, request: RecordedRequest) -> Reply | None:
        if bearer_token(request) == self.token:
            return None
        body = {"message": "Bad credentials", "documentation_url": self._DOCS, "status": "401"}
        return json_reply(401, body)

    def user(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        denied = self._unauthorized(request)
        if denied:
            return denied
        body = {"login": self.login, "id": 583231, "type": "User", "name": "The Octocat", "site_admin": False}
        return json_reply(200, body, self._headers())

    def org(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        denied = self._unauthorized(request)
        if denied:
            return denied
        org = self.organizations.get(unquote(match.group(1)).lower())
        if org is None:
            return json_reply(
                404,
                {"message": "Not Found", "documentation_url": f"{self._DOCS}/orgs/orgs#get-an-organization",
                 "status": "404"},
            )  # fmt: skip
        return json_reply(200, {"login": org, "id": 9919, "type": "Organization"}, self._headers())


class GitLabFake(FakeServer):
    """GitLab REST API v4: current user, the token's own record and groups.

    A personal access token is accepted as ``PRIVATE-TOKEN`` or ``Authorization: Bearer``; an OAuth
    token only as Bearer, as GitLab does. `legacy=True` mimics GitLab before 15.5, which has no
    ``/personal_access_tokens/self`` (404).
    """

    service = "gitlab"

    def __init__(
        self,
        *,
        pat: str | None = None,
        oauth_token: str | None = None,
        username: str = "tanuki",
        scopes: tuple[str, ...] = ("api", "read_repository"),
        groups: Iterable[str] = ("platform/infra",),
        legacy: bool = False,
        **kwargs: Any,
    ) -> None:
        self.pat, self.oauth_token, self.username = pat, oauth_token, username
        self.scopes, self.groups, self.legacy = scopes, set(groups), legacy
        super().__init__(**kwargs)

    def routes(self) -> Iterable[Route]:
        return (
            Route("GET", "/api/v4/user", self.user),
            Route("GET", "/api/v4/personal_access_tokens/self", self.token_self),
            Route("GET", "/api/v4/groups/([^/]+)", self.group),
        )

    def not_found(self, request: RecordedRequest) -> Reply:
        return json_reply(404, {"error": "404 Not Found"})

    def _kind(self, request: RecordedRequest) -> str | None:
        """Which configured token the request carries: "pat", "oauth" or None."""
        private, bearer = request.header("PRIVATE-TOKEN"), bearer_token(request)
        if self.pat and self.pat in (private, bearer):
            return "pat"
        if self.oauth_token and bearer == self.oauth_token:
            return "oauth"
        return None

    def user(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if self._kind(request) is None:
            return json_reply(401, {"message": "401 Unauthorized"})
        body = {"id": 1, "username": self.username, "name": "Tanuki", "state": "active", "bot": False}
        return json_reply(200, body)

    def token_self(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if self.legacy:
            return self.not_found(request)
        if self._kind(request) != "pat":
            return json_reply(401, {"message": "401 Unauthorized"})
        body = {
            "id": 42, "name": "platform", "revoked": False, "active": True, "user_id": 1,
            "scopes": list(self.scopes), "created_at": "2025-01-01T00:00:00.000Z", "expires_at": "2026-12-31",
        }  # fmt: skip
        return json_reply(200, body)

    def group(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if self._kind(request) is None:
            return json_reply(401, {"message": "401 Unauthorized"})
        path = unquote(match.group(1))
        if path not in self.groups:
            return json_reply(404, {"message": "404 Group Not Found"})
        return json_reply(200, {"id": 7, "full_path": path, "name": path.rsplit("/", 1)[-1]})


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------


class DockerHubFake(FakeServer):
    """Docker Hub: ``POST /v2/users/login`` with a JSON username/password (an access token) body."""

    service = "dockerhub"
    #: What the fake hands out on success; tests assert it never leaves the check.
    session_token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJodWItc2Vzc2lvbiJ9.fake-hub-session-signature"

    def __init__(self, *, username: str, token: str, **kwargs: Any) -> None:
        self.username, self.token = username, token
        super().__init__(**kwargs)

    def routes(self) -> Iterable[Route]:
        return (Route("POST", "/v2/users/login", self.login),)

    def not_found(self, request: RecordedRequest) -> Reply:
        return json_reply(404, {"detail": "Not found."})

    def login(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        try:
            payload = request.json()
        except ValueError:
            return json_reply(400, {"detail": "JSON parse error"})
        if not isinstance(payload, dict) or not payload.get("username") or not payload.get("password"):
            return json_reply(400, {"detail": "username and password are required"})
        if payload["username"] != self.username or payload["password"] != self.token:
            return json_reply(401, {"detail": "Incorrect authentication credentials"})
        return json_reply(200, {"token": self.session_token})


# --------------------------------------------------------------------------------------------------
# Clouds
# --------------------------------------------------------------------------------------------------


class DigitalOceanFake(FakeServer):
    """DigitalOcean API v2: ``GET /v2/account``."""

    service = "digitalocean"

    def __init__(self, token: str, *, email: str = "sammy@example.com", status: str = "active", **kwargs: Any) -> None:
        self.token, self.email, self.status = token, email, status
        super().__init__(**kwargs)

    def routes(self) -> Iterable[Route]:
        return (Route("GET", "/v2/account", self.account),)

    def not_found(self, request: RecordedRequest) -> Reply:
        return json_reply(404, {"id": "not_found", "message": "The resource you were accessing could not be found."})

    def account(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if bearer_token(request) != self.token:
            return json_reply(401, {"id": "Unauthorized", "message": "Unable to authenticate you"})
        status_message = "Your account is locked: contact support." if self.status == "locked" else ""
        account = {
            "droplet_limit": 25, "floating_ip_limit": 5, "email": self.email,
            "uuid": "b6fr89dbf6d9156cace5f3c78dc9851d957381ef", "email_verified": True,
            "status": self.status, "status_message": status_message,
            "team": {"uuid": "5df3e3004a17e242b7c20ca6c9fc25b701a47ece", "name": "Acme Platform"},
        }  # fmt: skip
        return json_reply(200, {"account": account})


class ScalewayFake(FakeServer):
    """Scaleway IAM: ``GET /iam/v1alpha1/api-keys/{access_key}`` authenticated by ``X-Auth-Token``."""

    service = "scaleway"

    def __init__(self, *, access_key: str, secret_key: str, project_id: str, **kwargs: Any) -> None:
        self.access_key, self.secret_key, self.project_id = access_key, secret_key, project_id
        super().__init__(**kwargs)

    def routes(self) -> Iterable[Route]:
        return (Route("GET", "/iam/v1alpha1/api-keys/([^/]+)", self.api_key),)

    def not_found(self, request: RecordedRequest) -> Reply:
        return json_reply(404, {"message": "resource is not found", "type": "not_found"})

    def api_key(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if request.header("X-Auth-Token") != self.secret_key:
            body = {"message": "authentication is denied", "method": "api_key", "reason": "invalid_argument",
                    "type": "denied_authentication"}  # fmt: skip
            return json_reply(401, body)
        access_key = unquote(match.group(1))
        if access_key != self.access_key:
            body = {"message": "resource is not found", "resource": "api_key", "resource_id": access_key,
                    "type": "not_found"}  # fmt: skip
            return json_reply(404, body)
        body = {
            "access_key": self.access_key, "secret_key": None, "user_id": "0c5b6e1f-9a43-4c6b-8a7e-0d3f2b1a9c8e",
            "application_id": None, "description": "terraform", "default_project_id": self.project_id,
            "editable": True, "created_at": "2025-01-01T00:00:00Z", "expires_at": None,
        }  # fmt: skip
        return json_reply(200, body)


class CivoFake(FakeServer):
    """Civo API v2: ``GET /v2/regions`` with ``Authorization: bearer <key>``."""

    service = "civo"

    def __init__(self, token: str, *, regions: Iterable[str] = ("LON1", "NYC1", "FRA1", "PHX1"), **kwargs: Any) -> None:
        self.token, self.regions = token, tuple(regions)
        super().__init__(**kwargs)

    def routes(self) -> Iterable[Route]:
        return (Route("GET", "/v2/regions", self.list_regions),)

    def not_found(self, request: RecordedRequest) -> Reply:
        return json_reply(404, {"code": "not_found", "reason": "The requested resource could not be found"})

    def list_regions(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if bearer_token(request) != self.token:
            return json_reply(401, {"code": "authentication_invalid_key", "reason": "The API key provided is invalid"})
        regions = [
            {"code": code, "name": code.title(), "type": "civostack", "out_of_capacity": False, "default": i == 0}
            for i, code in enumerate(self.regions)
        ]
        return json_reply(200, regions)


class CloudflareFake(FakeServer):
    """Cloudflare API v4: token verification and account lookup.

    `status` is the token's status ("active", "disabled", "expired"); Cloudflare still answers the
    verify call with ``success: true`` for a known but inactive token.
    """

    service = "cloudflare"

    def __init__(
        self,
        token: str,
        *,
        status: str = "active",
        accounts: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.token, self.status = token, status
        self.accounts = accounts if accounts is not None else {}
        super().__init__(**kwargs)

    def routes(self) -> Iterable[Route]:
        return (
            Route("GET", "/user/tokens/verify", self.verify),
            Route("GET", "/accounts/([^/]+)", self.account),
        )

    @staticmethod
    def _error(status: int, code: int, message: str) -> Reply:
        return json_reply(status, {"success": False, "errors": [{"code": code, "message": message}],
                                   "messages": [], "result": None})  # fmt: skip

    def not_found(self, request: RecordedRequest) -> Reply:
        return self._error(404, 7000, "No route for that URI")

    def verify(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if bearer_token(request) != self.token:
            return self._error(401, 1000, "Invalid API Token")
        message = f"This API Token is valid and {self.status}" if self.status == "active" else ""
        return json_reply(200, {
            "success": True, "errors": [],
            "messages": [{"code": 10000, "message": message, "type": None}] if message else [],
            "result": {"id": "f267e341f3dd4697bd3b9f71dd96247f", "status": self.status,
                       "not_before": "2025-01-01T00:00:00Z", "expires_on": "2030-01-01T00:00:00Z"},
        })  # fmt: skip

    def account(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if bearer_token(request) != self.token or self.status != "active":
            return self._error(401, 1000, "Invalid API Token")
        account_id = unquote(match.group(1))
        if account_id not in self.accounts:
            return self._error(403, 9109, "Unauthorized to access requested resource")
        result = {"id": account_id, "name": self.accounts[account_id], "type": "standard"}
        return json_reply(200, {"success": True, "errors": [], "messages": [], "result": result})
