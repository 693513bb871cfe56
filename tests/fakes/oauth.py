"""A local OAuth 2.0 authorization server speaking GitHub's or GitLab's documented endpoints.

GitHub: ``GET /login/oauth/authorize`` and ``POST /login/oauth/access_token`` (errors come back as HTTP 200
with an ``error`` member; scopes comma-separated; an OAuth app's token does not expire, a GitHub App's
expiring user token comes with ``expires_in`` and a ``ghr_`` refresh token). GitLab: ``GET /oauth/authorize``
and ``POST /oauth/token`` (errors as HTTP 400/401; tokens expire after 7200 s; the refresh token rotates).

The fake is strict where the real servers are: the client id and secret, the registered redirect URI, single
use codes, PKCE S256 (the verifier must hash to the challenge sent on authorize) and single use refresh
tokens. `consent` decides what the "user" answers on the authorize page: "approve" or "deny".
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from .http import FakeServer, RecordedRequest, Reply, Route, json_reply

__all__ = ["OAuthServerFake"]


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    used: bool = False


class OAuthServerFake(FakeServer):
    """`flavor` "github" or "gitlab"; `expires_in` None makes non-expiring tokens without refresh (GitHub OAuth app)."""

    service = "oauth"

    def __init__(
        self,
        *,
        flavor: str,
        client_id: str,
        client_secret: str,
        expires_in: int | None = None,
        granted_scope: str | None = None,
        **kwargs: Any,
    ) -> None:
        assert flavor in ("github", "gitlab")
        self.flavor, self.client_id, self.client_secret = flavor, client_id, client_secret
        self.expires_in = expires_in
        self.granted_scope = granted_scope
        self.consent = "approve"
        self.codes: dict[str, _Code] = {}
        self.access_tokens: list[str] = []
        self.refresh_tokens: dict[str, bool] = {}  # token -> still valid
        self.pkce_failures = 0
        self.pkce_checked = 0
        self.registered_redirect_uri: str | None = None
        super().__init__(**kwargs)

    # -- routes ------------------------------------------------------------------------------------

    def routes(self) -> Iterable[Route]:
        if self.flavor == "github":
            return (
                Route("GET", "/login/oauth/authorize", self.authorize),
                Route("POST", "/login/oauth/access_token", self.token),
            )
        return (Route("GET", "/oauth/authorize", self.authorize), Route("POST", "/oauth/token", self.token))

    def not_found(self, request: RecordedRequest) -> Reply:
        return json_reply(404, {"message": "Not Found"})

    # -- authorize ---------------------------------------------------------------------------------

    def authorize(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        q = {key: values[0] for key, values in request.query.items()}
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return json_reply(400, {"error": "invalid_request", "error_description": "Unknown client or response."})
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge") or not q.get("state"):
            return json_reply(400, {"error": "invalid_request", "error_description": "PKCE S256 and state required."})
        redirect_uri = q.get("redirect_uri", "")
        if self.registered_redirect_uri and redirect_uri != self.registered_redirect_uri:
            return json_reply(400, {"error": "invalid_redirect_uri"})
        if self.consent == "deny":
            params = {
                "error": "access_denied",
                "error_description": "The user has denied your application access."
                if self.flavor == "github"
                else "The resource owner or authorization server denied the request.",
                "state": q["state"],
            }
        else:
            code = secrets.token_hex(10)
            self.codes[code] = _Code(self.client_id, redirect_uri, q["code_challenge"], q.get("scope", ""))
            params = {"code": code, "state": q["state"]}
        return Reply(302, b"", {"Location": f"{redirect_uri}?{urlencode(params)}"})

    # -- token -------------------------------------------------------------------------------------

    def _error(self, status: int, error: str, description: str) -> Reply:
        if self.flavor == "github":  # GitHub answers token errors with 200 and an error member
            return json_reply(200, {"error": error, "error_description": description})
        return json_reply(status, {"error": error, "error_description": description})

    def token(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            error = "incorrect_client_credentials" if self.flavor == "github" else "invalid_client"
            return self._error(401, error, "The client_id and/or client_secret passed are incorrect.")
        if form.get("grant_type") == "authorization_code":
            return self._code_grant(form)
        if form.get("grant_type") == "refresh_token":
            return self._refresh_grant(form)
        return self._error(400, "unsupported_grant_type", "Unsupported grant type.")

    def _code_grant(self, form: dict[str, str]) -> Reply:
        code = self.codes.get(form.get("code", ""))
        bad = "bad_verification_code" if self.flavor == "github" else "invalid_grant"
        if code is None or code.used:
            return self._error(400, bad, "The code passed is incorrect or expired.")
        code.used = True  # single use, whatever happens next
        if form.get("redirect_uri") != code.redirect_uri:
            return self._error(400, "redirect_uri_mismatch", "The redirect_uri does not match.")
        self.pkce_checked += 1
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if digest != code.challenge:
            self.pkce_failures += 1
            return self._error(400, bad, "The code_verifier does not match the code_challenge.")
        return self._issue(self.granted_scope if self.granted_scope is not None else code.scope)

    def _refresh_grant(self, form: dict[str, str]) -> Reply:
        token = form.get("refresh_token", "")
        if not self.refresh_tokens.get(token):
            error = "bad_refresh_token" if self.flavor == "github" else "invalid_grant"
            return self._error(400, error, "The refresh token passed is incorrect or expired.")
        self.refresh_tokens[token] = False  # rotated: the old one is dead
        return self._issue(self.granted_scope or ("repo,read:org" if self.flavor == "github" else "api"))

    def _issue(self, scope: str) -> Reply:
        if self.flavor == "github":
            access = "gho_" + secrets.token_hex(18)
            scope = ",".join(part for part in re.split(r"[\s,]+", scope) if part)
            body: dict[str, Any] = {"access_token": access, "token_type": "bearer", "scope": scope}
            if self.expires_in:
                refresh = "ghr_" + secrets.token_hex(30)
                body.update(expires_in=self.expires_in, refresh_token=refresh, refresh_token_expires_in=15897600)
                self.refresh_tokens[refresh] = True
        else:
            access, refresh = secrets.token_hex(32), secrets.token_hex(32)
            body = {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.expires_in or 7200,
                "refresh_token": refresh,
                "scope": scope,
                "created_at": 1700000000,
            }
            self.refresh_tokens[refresh] = True
        self.access_tokens.append(access)
        return json_reply(200, body)
