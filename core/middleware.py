"""Request id and client IP for every request, recorded by the audit trail; slash handling that never 500s."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware

from . import context
from .api.errors import json_error_view

# Methods a redirect may repeat safely: a redirect of anything else would lose (or resend) its body.
_REDIRECTABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or the address a trusted reverse proxy appended to X-Forwarded-For."""
    addr = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= proxies:
            addr = hops[-proxies]
    try:
        return str(ipaddress.ip_address(addr)) if addr else None
    except ValueError:
        return None


class RequestContextMiddleware:
    """Assigns `request.id` (from a well-formed X-Request-ID header, or a new UUID) and echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request.id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        token = context.set_current(context.RequestContext(request_id=request.id, client_ip=client_ip(request)))
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        response["X-Request-ID"] = request.id
        return response


class CommonMiddleware(DjangoCommonMiddleware):
    """Django's CommonMiddleware, except that a state-changing request missing its trailing slash is a 404.

    Django answers `DELETE /api/v1/.../x` (no slash) with a RuntimeError (a 500) when DEBUG is on, and with a
    301 to the slash URL when it is off, which clients follow as a GET or drop the body of. Neither is a clear
    answer, so a DELETE/POST/PUT/PATCH to a path that only exists with a slash is a 404 that names the right
    path: the API's JSON error shape under /api/, the normal not-found page elsewhere. GET and HEAD still
    get the redirect.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (
            response.status_code == 404
            and request.method not in _REDIRECTABLE_METHODS
            and self.should_redirect_with_slash(request)
        ):
            if request.path.startswith("/api/"):
                return json_error_view(
                    404, "not_found", f"Not found. API paths end with a slash: {request.path}/"
                )
            return response
        return super().process_response(request, response)


class PermissionsPolicyMiddleware:
    """Sends `Permissions-Policy` (setting `PERMISSIONS_POLICY`) on every response that does not set its own.

    The platform uses no camera, microphone, location, payment... so every such feature is off, for its pages
    and for anything an injected frame could try.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.PERMISSIONS_POLICY
        if policy and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = policy
        return response
