"""Answers to a held login attempt: the API's JSON error shape for /api/, a page for everything else,
both 429 with Retry-After. Also the callables django-axes is configured with (settings AXES_*)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.api.errors import json_error_view

from .authn import limits

LOCKOUT_MESSAGE = limits.LOCKOUT_MESSAGE


def refusal_response(request: HttpRequest, refusal: limits.Refusal) -> HttpResponse:
    """429 with Retry-After, in the shape the caller reads (JSON under /api/, else the page)."""
    if request.path.startswith("/api/"):
        response = json_error_view(429, "throttled", refusal.message)
    else:
        context = {"message": refusal.message, "retry_after": refusal.retry_after}
        response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(refusal.retry_after)
    return response


def lockout_response(
    request: HttpRequest, response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: django-axes flagged this request (the pair reached its limit)."""
    email = lockout_username(request, credentials) or ""
    wait = limits.account_address_wait(request, email) or 1
    return refusal_response(request, limits.Refusal(limits.Scope.ACCOUNT_ADDRESS, wait))


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The login email axes counts failures for, lowercased so case variants share one counter.

    Django strips nothing but passwords from the failure signal's credentials; JSON API requests
    have no request.POST, so the token view also sets `request.login_email`.
    """
    value = (credentials or {}).get("username") or getattr(request, "login_email", None) or request.POST.get("username")
    return limits.normalize_email(value) or None
