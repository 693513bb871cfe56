"""The OAuth authorization-code flow of a connection, on the platform's side: its state in the session.

`begin` picks a random `state` and a PKCE verifier, keeps them server-side in the user's session bound to
that user, the organization and the connection draft (what the create form said, or the connection being
reconnected), and returns the provider's authorize URL. `take` hands a flow back once, on the callback:
a state this session did not start, started by another user, already used or older than
`FLOW_LIFETIME` gives None, and nothing is exchanged or stored. The provider specifics (URLs, the token
exchange) stay in `providers`; the state changes in `services`.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from .providers import get_provider
from .providers.oauth import OAuthSupport, pkce_pair

__all__ = ["FLOW_LIFETIME", "SESSION_KEY", "begin", "callback_url", "support_for", "take"]

SESSION_KEY = "connections_oauth_flows"
#: Seconds a user has to consent on the provider.
FLOW_LIFETIME = 600
#: Flows one session may have open at once (several tabs); the oldest is dropped beyond that.
MAX_FLOWS = 5


def callback_url(request: HttpRequest) -> str:
    """The one redirect URI registered with every OAuth app (exact match on GitLab)."""
    return request.build_absolute_uri(reverse("connection_oauth_callback"))


def support_for(flow: dict[str, Any]) -> OAuthSupport:
    support = get_provider(flow["provider"]).oauth_for(flow["auth_method"])
    assert support is not None  # `begin` only starts flows for methods that have one
    return support


def begin(
    request: HttpRequest, *, org_id: int, provider: str, auth_method: str, config: dict[str, Any], draft: dict[str, Any]
) -> str:
    """Start a flow and return the authorize URL; raises `OAuthUnavailable` when no OAuth app is configured."""
    support = get_provider(provider).oauth_for(auth_method)
    if support is None:
        raise ValueError(f"{provider} {auth_method} has no OAuth flow.")
    state = secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair()
    redirect_uri = callback_url(request)
    url = support.authorize_url(config, state=state, challenge=challenge, redirect_uri=redirect_uri)
    now = time.time()
    flows = {key: flow for key, flow in _flows(request).items() if flow.get("expires", 0) > now}
    for key in sorted(flows, key=lambda k: flows[k]["expires"])[: max(0, len(flows) - MAX_FLOWS + 1)]:
        del flows[key]
    flows[state] = {
        "user": request.user.pk,
        "org": org_id,
        "provider": provider,
        "auth_method": auth_method,
        "config": config,
        "draft": draft,
        "verifier": verifier,
        "redirect_uri": redirect_uri,
        "expires": now + FLOW_LIFETIME,
    }
    request.session[SESSION_KEY] = flows
    return url


def take(request: HttpRequest, state: Any) -> dict[str, Any] | None:
    """The flow `state` names, removed from the session (single use); None unless this user started it here."""
    flows = _flows(request)
    found = None
    if isinstance(state, str) and state:
        for key in list(flows):
            if hmac.compare_digest(key.encode(), state.encode()):
                found = flows.pop(key)
    request.session[SESSION_KEY] = flows
    if found is None or found.get("expires", 0) <= time.time() or found.get("user") != request.user.pk:
        return None
    return found


def _flows(request: HttpRequest) -> dict[str, dict[str, Any]]:
    flows = request.session.get(SESSION_KEY)
    return dict(flows) if isinstance(flows, dict) else {}
