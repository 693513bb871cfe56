"""Limits on failed logins and password-reset requests, beyond what django-axes does.

django-axes locks one (email, client address) pair after `AXES_FAILURE_LIMIT` failures. That alone
lets an attacker spray one password over many accounts from one address, and a hard lock per account
would let anyone lock a victim out. So this layer adds, in the Django cache (`CACHE_URL`; Redis in
production, so every process shares the counters):

* per client address, across accounts: `LOGIN_ADDRESS_FAILURE_LIMIT` failures within
  `LOGIN_FAILURE_WINDOW` hold that address for one window (password spraying);
* per account, across addresses: from the `LOGIN_ACCOUNT_DELAY_AFTER`-th failure within the window,
  each failure makes the next attempt wait 1, 2, 4... seconds, at most `LOGIN_ACCOUNT_DELAY_MAX`:
  a delay, never a lock, so an attacker elsewhere slows the victim down by seconds at worst;
* password-reset requests per client address (`PASSWORD_RESET_ADDRESS_LIMIT`) and per target e-mail
  (`PASSWORD_RESET_EMAIL_LIMIT`) within `PASSWORD_RESET_WINDOW`.

The client address is always `core.middleware.client_ip` (the audit trail's, honouring
`TRUSTED_PROXY_COUNT`), the same function axes is configured with, so a forged X-Forwarded-For never
picks a new bucket and a reverse proxy's own address is never what gets locked.

Emails are counted whether an account exists or not, so no limit tells existing accounts apart.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.core.cache import cache
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.throttling import ScopedRateThrottle

from core.middleware import client_ip

LOCKOUT_MESSAGE = "Too many failed login attempts; try again later."
RESET_THROTTLED_MESSAGE = "Too many password reset requests from your network; try again later."
UNKNOWN_ADDRESS = "unknown"


def now() -> float:
    """The clock every limit reads (one place, so tests can move time)."""
    return time.time()


def client_address(request: HttpRequest) -> str:
    """The address every limit counts against: the audit trail's client IP."""
    return client_ip(request) or UNKNOWN_ADDRESS


def normalize_email(value: Any) -> str:
    """How an attempted login e-mail is counted and recorded: trimmed, lowercased, bounded."""
    return str(value or "").strip().lower()[:254]


def _cache_key(scope: str, *parts: str) -> str:
    # Hashed: e-mails may hold characters some cache backends refuse, and keys stay short.
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"authn:{scope}:{digest}"


class WindowCounter:
    """Events per key over a sliding window, in the Django cache.

    Two fixed windows (current and previous), the previous one weighted by how much of it the sliding
    window still covers: the usual approximation, atomic with any backend that has an atomic `incr`
    (Redis, memcached, and the per-process local-memory cache).
    """

    def __init__(self, scope: str, window: int) -> None:
        self.scope = scope
        self.window = max(1, window)

    def _key(self, key: str, slot: int) -> str:
        return _cache_key(self.scope, key, str(slot))

    def add(self, key: str) -> float:
        """Count one event; returns the count over the sliding window, this one included."""
        t = now()
        slot_key = self._key(key, int(t // self.window))
        cache.add(slot_key, 0, timeout=2 * self.window)
        try:
            cache.incr(slot_key)
        except ValueError:  # evicted between add and incr
            cache.set(slot_key, 1, timeout=2 * self.window)
        return self.count(key, at=t)

    def count(self, key: str, *, at: float | None = None) -> float:
        t = now() if at is None else at
        slot = int(t // self.window)
        current = cache.get(self._key(key, slot)) or 0
        previous = cache.get(self._key(key, slot - 1)) or 0
        overlap = 1 - (t % self.window) / self.window
        return current + previous * overlap

    def clear(self, key: str) -> None:
        slot = int(now() // self.window)
        cache.delete_many([self._key(key, slot), self._key(key, slot - 1)])


class Hold:
    """A key that must wait until some time: `start` sets it, `remaining` says how long is left."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def start(self, key: str, seconds: float) -> bool:
        """Hold `key` for `seconds` (from now, replacing any earlier hold); True if none was running."""
        running = self.remaining(key) > 0
        cache.set(_cache_key(self.scope, key), now() + seconds, timeout=math.ceil(seconds) + 1)
        return not running

    def remaining(self, key: str) -> int:
        """Whole seconds left (rounded up; 0 when free)."""
        until = cache.get(_cache_key(self.scope, key))
        return max(0, math.ceil(until - now())) if until else 0

    def clear(self, key: str) -> None:
        cache.delete(_cache_key(self.scope, key))


# --- Logins ---------------------------------------------------------------------------------------


class Scope:
    """What a refusal is about (the audit trail records it)."""

    ADDRESS = "address"  # one client address, across accounts
    ACCOUNT = "account"  # one account, across addresses (a short delay)
    ACCOUNT_ADDRESS = "account_address"  # one account from one address (django-axes)


@dataclass(frozen=True)
class Refusal:
    """A login attempt that is not checked: who is held, and for how many seconds."""

    scope: str
    retry_after: int
    message: str = LOCKOUT_MESSAGE


def _address_failures() -> WindowCounter:
    return WindowCounter("login-address", settings.LOGIN_FAILURE_WINDOW)


def _account_failures() -> WindowCounter:
    return WindowCounter("login-account", settings.LOGIN_FAILURE_WINDOW)


ADDRESS_HOLD = Hold("login-address-hold")
ACCOUNT_HOLD = Hold("login-account-hold")
ACCOUNT_DELAY_ANNOUNCED = "login-account-delay-announced"


def _axes_credentials(request: HttpRequest, email: str) -> dict[str, str]:
    request.login_email = email  # read by accounts.lockout.lockout_username (JSON requests have no POST)
    return {"username": email}


def account_address_wait(request: HttpRequest, email: str) -> int:
    """Seconds until django-axes lets this (email, address) pair try again (0 when not locked)."""
    if not settings.AXES_ENABLED or not email:
        return 0
    if AxesProxyHandler.is_allowed(request, _axes_credentials(request, email)):
        return 0
    last = AccessAttempt.objects.filter(username=email, ip_address=request.axes_ip_address).aggregate(
        last=Max("attempt_time")
    )["last"]
    cool_off = settings.AXES_COOLOFF_TIME.total_seconds()
    if last is None:
        return math.ceil(cool_off)
    return max(1, math.ceil(cool_off - (timezone.now() - last).total_seconds()))


def login_refusal(request: HttpRequest, email: str) -> Refusal | None:
    """Whether this attempt may be checked at all; a Refusal (with Retry-After seconds) if not.

    Asked before the password (or one-time code) is looked at, so a held attempt tells nothing about it.
    """
    if wait := ADDRESS_HOLD.remaining(client_address(request)):
        return Refusal(Scope.ADDRESS, wait)
    if wait := account_address_wait(request, email):
        return Refusal(Scope.ACCOUNT_ADDRESS, wait)
    if email and (wait := ACCOUNT_HOLD.remaining(email)):
        return Refusal(Scope.ACCOUNT, wait)
    return None


def account_delay(failures: int) -> int:
    """Seconds the account waits after its `failures`-th failure in the window: 0, then 1, 2, 4... capped."""
    if failures < settings.LOGIN_ACCOUNT_DELAY_AFTER:
        return 0
    return min(2 ** (failures - settings.LOGIN_ACCOUNT_DELAY_AFTER), settings.LOGIN_ACCOUNT_DELAY_MAX)


def count_login_failure(request: HttpRequest, email: str) -> list[Refusal]:
    """Count one failed attempt (wrong password or one-time code) against the address and the account.

    Returns the holds this failure started (for the audit trail): the address reaching its limit, the
    account's delay beginning (once per window), or django-axes locking the pair (it flags the request
    while handling the `user_login_failed` signal, which has run by now).
    """
    started: list[Refusal] = []
    address = client_address(request)
    if _address_failures().add(address) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
        window = settings.LOGIN_FAILURE_WINDOW
        if ADDRESS_HOLD.start(address, window):
            started.append(Refusal(Scope.ADDRESS, window))
    if email:
        delay = account_delay(math.floor(_account_failures().add(email)))
        if delay:
            ACCOUNT_HOLD.start(email, delay)
            if cache.add(_cache_key(ACCOUNT_DELAY_ANNOUNCED, email), 1, timeout=settings.LOGIN_FAILURE_WINDOW):
                started.append(Refusal(Scope.ACCOUNT, delay))
    if getattr(request, "axes_locked_out", False):
        started.append(Refusal(Scope.ACCOUNT_ADDRESS, account_address_wait(request, email)))
    return started


def clear_login_failures(request: HttpRequest, email: str) -> None:
    """A successful login (password and, when enrolled, the second factor): the account's delay and this
    pair's axes failures start over. The address's count does not: logging into one's own account must
    not reset a spray counter."""
    _account_failures().clear(email)
    ACCOUNT_HOLD.clear(email)
    cache.delete(_cache_key(ACCOUNT_DELAY_ANNOUNCED, email))
    if settings.AXES_ENABLED:
        AxesProxyHandler.update_request(request)
        AxesProxyHandler.reset_attempts(ip_address=request.axes_ip_address, username=email)


# --- Password reset -------------------------------------------------------------------------------


def _reset_requests_by_address() -> WindowCounter:
    return WindowCounter("reset-address", settings.PASSWORD_RESET_WINDOW)


def _reset_requests_by_email() -> WindowCounter:
    return WindowCounter("reset-email", settings.PASSWORD_RESET_WINDOW)


RESET_ADDRESS_HOLD = Hold("reset-address-hold")


def password_reset_refusal(request: HttpRequest) -> Refusal | None:
    """Count one reset request from this address; a Refusal once the address is over its limit."""
    address = client_address(request)
    if wait := RESET_ADDRESS_HOLD.remaining(address):
        return Refusal(Scope.ADDRESS, wait, RESET_THROTTLED_MESSAGE)
    if _reset_requests_by_address().add(address) > settings.PASSWORD_RESET_ADDRESS_LIMIT:
        window = settings.PASSWORD_RESET_WINDOW
        RESET_ADDRESS_HOLD.start(address, window)
        return Refusal(Scope.ADDRESS, window, RESET_THROTTLED_MESSAGE)
    return None


def password_reset_mail_allowed(email: str) -> bool:
    """Count one reset request for this e-mail (existing or not); False once it is over its limit.

    Over the limit the page answers exactly as usual and sends nothing, so neither the limit nor the
    answer says whether the account exists, and nobody can flood a mailbox with reset links.
    """
    return _reset_requests_by_email().add(email) <= settings.PASSWORD_RESET_EMAIL_LIMIT


# --- API throttles --------------------------------------------------------------------------------


class ClientAddressRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle keyed by the audit trail's client address.

    DRF's own `get_ident` uses the whole X-Forwarded-For header when NUM_PROXIES is unset, so a client
    could pick a fresh bucket (reset its throttle) with every forged header.
    """

    def get_ident(self, request: Any) -> str:
        return client_address(request._request if hasattr(request, "_request") else request)
