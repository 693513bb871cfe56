"""The login flow both the sign-in page and `POST /api/v1/auth/token/` go through, so both apply the
same rules in the same order:

1. `limits.login_refusal` before anything is checked: a held address, a locked (email, address)
   pair, or an account still in its delay is refused (429 with Retry-After) without looking at the
   password, so a held attempt learns nothing;
2. the password (`django.contrib.auth.authenticate`, with django-axes' backend first);
3. for a user who has enrolled, the second factor: a TOTP code or a recovery code;
4. `failed` counts a wrong password or code against every limit and records it in the audit trail
   (with the lockouts it started); `succeeded` clears the account's delay and the pair's failures.

On the page, steps 2 and 3 are two requests: after the password, the session holds a short-lived
"pending" login (no user is signed in) until the code is given on /login/verify/.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp.models import Device

from . import limits, services, twofactor

PAGE = "page"
API = "api"
PASSWORD = "password"
ONE_TIME_CODE = "otp"
PENDING_SESSION_KEY = "authn_pending_login"
PENDING_SECONDS = 300  # time allowed between the password and the one-time code


def failed(request: HttpRequest, email: str, *, reason: str, channel: str) -> limits.Refusal | None:
    """Count and record one failed attempt. Returns the hold this failure started that should answer
    this very request (an address or a pair locked: 429); an account delay only applies to the next one.
    """
    if reason == ONE_TIME_CODE:
        # authenticate() already told django-axes about a wrong password; a wrong code is told here.
        user_login_failed.send(sender=__name__, credentials={"username": email}, request=request)
    started = limits.count_login_failure(request, email)
    services.do_record_failed_login(email=email, reason=reason, channel=channel)
    for refusal in started:
        services.do_record_lockout(email=email, refusal=refusal, channel=channel)
    return next((r for r in started if r.scope != limits.Scope.ACCOUNT), None)


def succeeded(request: HttpRequest, email: str) -> None:
    limits.clear_login_failures(request, email)


def second_factor_used(request: HttpRequest, user: Any, device: Device, *, channel: str) -> None:
    """After a code was accepted: a recovery code is worth an audit event (it is one fewer)."""
    if twofactor.is_recovery_device(device):
        services.do_record_recovery_code_used(user, channel=channel)


# --- The page's pending login (between the password and the code) ---------------------------------


@dataclass(frozen=True)
class PendingLogin:
    user: Any
    backend: str
    next_url: str


def start_pending(request: HttpRequest, user: Any, next_url: str) -> None:
    """The password was right and the user has two-factor: remember them (not signed in) for a while."""
    request.session.cycle_key()
    request.session[PENDING_SESSION_KEY] = {
        "user_id": user.pk,
        "backend": user.backend,
        "next": next_url,
        "expires": time.time() + PENDING_SECONDS,
    }


def pending(request: HttpRequest) -> PendingLogin | None:
    data = request.session.get(PENDING_SESSION_KEY)
    if not isinstance(data, dict) or data.get("expires", 0) < time.time():
        request.session.pop(PENDING_SESSION_KEY, None)
        return None
    user = get_user_model().objects.filter(pk=data.get("user_id"), is_active=True).first()
    if user is None:
        return None
    return PendingLogin(user=user, backend=data["backend"], next_url=data.get("next") or "")


def complete(request: HttpRequest, device: Device, login: PendingLogin | None) -> None:
    """Sign in (for a pending login) and mark the session as verified with `device`."""
    if login is not None:
        request.session.pop(PENDING_SESSION_KEY, None)
        auth_login(request, login.user, backend=login.backend)
    otp_login(request, device)
    succeeded(request, request.user.email)
    second_factor_used(request, request.user, device, channel=PAGE)
