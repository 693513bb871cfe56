"""Permission denials in the audit trail.

Every refusal by the role table ends as a 403 from one of two places: a page or service raising
Django's `PermissionDenied` (`policy.check`, the admin login refusal), or DRF answering 403
`permission_denied` / `two_factor_required`. This middleware sees both and records one
`permission.denied` event for a signed-in actor, in the organization's chain when the URL names one the
actor belongs to (else the platform chain). Bounded: one event per actor, method and path per
`PERMISSION_DENIED_AUDIT_SECONDS`, so a script hammering a refused endpoint cannot flood the trail.
A CSRF failure or a plan limit is not a permission denial and is not recorded here.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from .actors import split_actor
from .audit import AuditWriteError, record_event
from .choices import AuditAction
from .models import Organization
from .policy import is_member

logger = logging.getLogger(__name__)

_DENIED_ATTR = "_audit_permission_denied"
API_DENIAL_CODES = frozenset({"permission_denied", "two_factor_required"})


def _api_denial(response: HttpResponse) -> str | None:
    """The message of a DRF 403 that is a policy refusal (the shared error body), else None."""
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("code") in API_DENIAL_CODES:
        return str(error.get("message", ""))[:300]
    return None


class PermissionDeniedAuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 403:
            reason = getattr(request, _DENIED_ATTR, None)
            if reason is None:
                reason = _api_denial(response)
            if reason is not None:
                self.record(request, reason)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, PermissionDenied) and getattr(exception, "code", "") != "plan_limit":
            setattr(request, _DENIED_ATTR, str(exception)[:300])

    def record(self, request: HttpRequest, reason: str) -> None:
        actor: Any = getattr(request, "auth", None) or getattr(request, "user", None)
        user, token = split_actor(actor)
        if user is None:
            return
        key = "audit:denied:" + hashlib.sha256(
            f"{user.pk}|{token.pk if token else ''}|{request.method}|{request.path}".encode()
        ).hexdigest()
        if not cache.add(key, 1, timeout=settings.PERMISSION_DENIED_AUDIT_SECONDS):
            return
        match = getattr(request, "resolver_match", None)
        slug = match.kwargs.get("org_slug") if match else None
        org = Organization.objects.filter(slug=slug).first() if slug else None
        if org is not None and not is_member(actor, org):
            org = None  # an outsider's probe never writes into that organization's trail
        try:
            with transaction.atomic():
                record_event(
                    org=org,
                    action=AuditAction.PERMISSION_DENIED,
                    actor=actor,
                    target_repr=request.path[:255],
                    details={"method": request.method, "path": request.path[:500], "reason": reason},
                )
        except AuditWriteError:
            logger.exception("Could not record a permission denial in the audit trail.")
