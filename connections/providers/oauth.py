"""OAuth 2.0 authorization-code flow with PKCE (RFC 6749, RFC 7636) for Git providers' ``oauth`` method.

Plain Python like every provider module: the connections app keeps the flow's state in the session and
calls `OAuthSupport.authorize_url`, `exchange` and `refresh`; a provider subclass says where its
authorize and token endpoints are (from the provider endpoints mechanism, so tests point them at a
local fake), which OAuth app (client id and secret, from settings) serves a given instance, and which
scopes to ask for. Token endpoint calls go through the SSRF guard like every other outbound call.

The client secret, the code, the verifier and the tokens never appear in an exception message: errors
carry the provider's ``error`` code and description only, scrubbed of those values.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from core.masking import registered, scrub
from core.netguard import NetguardError, guarded_request

__all__ = [
    "OAuthApp",
    "OAuthError",
    "OAuthSupport",
    "OAuthUnavailable",
    "TokenGrant",
    "pkce_challenge",
    "pkce_pair",
]

TIMEOUT = 10.0
_SCOPE_SPLIT = re.compile(r"[\s,]+")


class OAuthUnavailable(Exception):
    """The platform has no OAuth app for this instance: the message says which setting to fill in."""


class OAuthError(Exception):
    """The provider refused (denied consent, a bad or reused code, a failed PKCE check) or did not answer."""

    def __init__(self, reason: str, *, code: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class OAuthApp:
    """An OAuth application registered with the provider; the secret never appears in its repr."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass
class TokenGrant:
    """What the token endpoint granted. `scopes` None: the provider did not say."""

    access_token: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)
    expires_at: datetime | None = None
    scopes: list[str] | None = None

    def secrets(self) -> dict[str, str]:
        """The connection's secret payload for these tokens (`token`, and `refresh_token` when issued)."""
        values = {"token": self.access_token}
        if self.refresh_token:
            values["refresh_token"] = self.refresh_token
        return values

    def public(self) -> dict[str, Any]:
        """The non-secret facts stored on the connection: granted scopes and the access token's expiry."""
        return {
            "scopes": self.scopes,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "refreshable": bool(self.refresh_token),
        }


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a verifier: base64url(SHA-256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def pkce_pair() -> tuple[str, str]:
    """A fresh (verifier, S256 challenge); the verifier has 256 bits of entropy (43 characters)."""
    verifier = secrets.token_urlsafe(32)
    return verifier, pkce_challenge(verifier)


def parse_scopes(value: Any) -> list[str] | None:
    """Scopes as a sorted list: GitHub separates them with commas, GitLab and RFC 6749 with spaces."""
    if value is None:
        return None
    return sorted({scope for scope in _SCOPE_SPLIT.split(str(value)) if scope})


class OAuthSupport:
    """A provider's OAuth app: subclasses implement `app`, `authorize_endpoint`, `token_endpoint`."""

    #: The auth method this flow fills in.
    auth_method = "oauth"
    #: The scopes asked for, as the provider spells them.
    scopes: tuple[str, ...] = ()
    #: The provider's name in messages.
    label = ""

    def app(self, config: Mapping[str, Any]) -> OAuthApp:
        """The OAuth app for the connection's instance; raise `OAuthUnavailable` when none is configured."""
        raise NotImplementedError

    def authorize_endpoint(self, config: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def token_endpoint(self, config: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def scope_separator(self) -> str:
        return " "

    def authorize_url(self, config: Mapping[str, Any], *, state: str, challenge: str, redirect_uri: str) -> str:
        """Where the browser goes to consent: the app, the callback, the scopes, `state` and the PKCE challenge."""
        query = {
            "client_id": self.app(config).client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": self.scope_separator().join(self.scopes),
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.authorize_endpoint(config)}?{urlencode(query)}"

    def exchange(self, config: Mapping[str, Any], *, code: str, verifier: str, redirect_uri: str) -> TokenGrant:
        """Trade the authorization code (with the PKCE verifier) for tokens."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        return self._token_request(config, form, hide=(code, verifier))

    def refresh(self, config: Mapping[str, Any], refresh_token: str) -> TokenGrant:
        """A new access token (and, as both providers rotate them, a new refresh token) from the refresh token."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        grant = self._token_request(config, form, hide=(refresh_token,))
        if not grant.refresh_token:
            grant.refresh_token = refresh_token  # a provider that does not rotate it keeps the old one valid
        return grant

    def _token_request(self, config: Mapping[str, Any], form: dict[str, str], *, hide: tuple[str, ...]) -> TokenGrant:
        app = self.app(config)
        body = urlencode({**form, "client_id": app.client_id, "client_secret": app.client_secret}).encode()
        hidden = (app.client_secret, *hide)
        try:
            with registered(hidden):  # the log masker hides them should anything below log
                response = guarded_request(
                    "POST",
                    self.token_endpoint(config),
                    headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
                    body=body,
                    timeout=TIMEOUT,
                )
        except NetguardError as exc:
            raise OAuthError(f"{self.label} could not be reached: {scrub(str(exc), *hidden)}") from None
        try:
            payload = json.loads(response.body or b"{}")
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        # GitHub answers errors with HTTP 200 and an "error" member; GitLab with 400/401.
        if payload.get("error") or response.status != 200 or not payload.get("access_token"):
            code = str(payload.get("error") or f"http_{response.status}")
            description = str(payload.get("error_description") or payload.get("error") or f"HTTP {response.status}")
            raise OAuthError(f"{self.label} refused the token request: {scrub(description, *hidden)}", code=code)
        return self._grant(payload, response)

    def _grant(self, payload: Mapping[str, Any], response: Any) -> TokenGrant:
        expires_in = payload.get("expires_in")
        expires_at = None
        if isinstance(expires_in, int | float) and expires_in > 0:
            expires_at = datetime.now(UTC) + timedelta(seconds=int(expires_in))
        return TokenGrant(
            access_token=str(payload["access_token"]),
            refresh_token=str(payload.get("refresh_token") or ""),
            expires_at=expires_at,
            scopes=parse_scopes(payload.get("scope")),
        )
