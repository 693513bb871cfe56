"""django-axes lockout responses: the API's JSON error shape for /api/, a page for everything else."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.api.errors import json_error_view

LOCKOUT_MESSAGE = "Too many failed login attempts; try again later."


def lockout_response(
    request: HttpRequest, response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error_view(429, "throttled", LOCKOUT_MESSAGE)
    return render(request, "registration/locked_out.html", {"message": LOCKOUT_MESSAGE}, status=429)


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The login email axes counts failures for, lowercased so case variants share one counter.

    Django strips nothing but passwords from the failure signal's credentials; JSON API requests
    have no request.POST, so the token view also sets `request.login_email`.
    """
    value = (credentials or {}).get("username") or getattr(request, "login_email", None) or request.POST.get("username")
    return str(value).strip().lower() if value else None
