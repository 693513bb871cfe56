"""Login abuse (issue 8, item 4): the client address every limit uses, the per-(account, address) lock,
the per-address spray limit, the per-account delay, the same rules on the page and the token endpoint,
and what the audit trail records. Each rule is tried through the real page and API, as an attacker would.
"""

from __future__ import annotations

import json
import threading

import pytest
import redis
from axes.models import AccessAttempt
from django.db import connection
from django.test import Client

from accounts.audit import verify_chains
from accounts.authn import limits
from accounts.authn.limits import ClientAddressRateThrottle
from accounts.models import APIToken, AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

CHANNELS = ["page", "api"]
PROXY = "10.0.0.1"
ATTACKER = "203.0.113.5"
VICTIM_ADDRESS = "198.51.100.7"
CANARY_PASSWORD = "canary-Pa55word-7f3e"


def attempt(channel: str, email: str, password: str, *, remote: str = "127.0.0.1", xff: str | None = None):
    """One login through the real page or token endpoint, from `remote` (the TCP peer) with an optional
    X-Forwarded-For header. Returns (outcome, response): outcome is ok, failed or held."""
    meta = {"REMOTE_ADDR": remote}
    if xff is not None:
        meta["HTTP_X_FORWARDED_FOR"] = xff
    client = Client()
    if channel == "page":
        response = client.post("/login/", {"username": email, "password": password}, **meta)
        if response.status_code == 302:
            assert "_auth_user_id" in client.session
            return "ok", response
    else:
        body = json.dumps({"email": email, "password": password, "org": "acme", "name": "t"})
        response = client.post("/api/v1/auth/token/", body, content_type="application/json", **meta)
        if response.status_code == 201:
            return "ok", response
    if response.status_code == 429:
        assert int(response["Retry-After"]) > 0
        return "held", response
    assert response.status_code == (200 if channel == "page" else 401), response.content
    return "failed", response


@pytest.fixture
def clock(monkeypatch):
    """The limits' clock, moved by the test instead of sleeping."""

    class Clock:
        # The start of a window (a multiple of every window used here): the sliding counters' estimate
        # is exact until a test moves across a window boundary.
        t = 1_800_000_000.0

        def advance(self, seconds: float) -> None:
            self.t += seconds

    c = Clock()
    monkeypatch.setattr(limits, "now", lambda: c.t)
    return c


@pytest.fixture
def tight(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 100
    settings.LOGIN_ACCOUNT_DELAY_AFTER = 100
    return settings


# --- One client address for everything -----------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_forged_x_forwarded_for_does_not_pick_a_new_bucket(channel, members, tight):
    """No trusted proxy: X-Forwarded-For is the client's own words and is ignored by every limit."""
    tight.TRUSTED_PROXY_COUNT = 0
    results = [attempt(channel, "user@acme.test", "wrong", remote=ATTACKER, xff=f"192.0.2.{i}")[0] for i in range(3)]
    assert results == ["failed", "failed", "held"]  # the failure that reaches the limit already answers 429
    outcome, _ = attempt(channel, "user@acme.test", PASSWORD, remote=ATTACKER, xff="192.0.2.99")
    assert outcome == "held"
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
    # Positive control: the same header from another real address is not held.
    assert attempt(channel, "user@acme.test", PASSWORD, remote=VICTIM_ADDRESS, xff="192.0.2.0")[0] == "ok"


@pytest.mark.parametrize("channel", CHANNELS)
def test_behind_a_proxy_the_client_is_locked_not_the_proxy(channel, members, tight):
    """TRUSTED_PROXY_COUNT=1: the bucket is the address the proxy appended; a victim behind the same
    proxy still signs in, and a forged entry before the proxy's does not move the attacker elsewhere."""
    tight.TRUSTED_PROXY_COUNT = 1
    results = []
    for i in range(3):
        forged = f"192.0.2.{i}, {ATTACKER}"  # what the proxy forwards: the client's forged entry, then the real one
        results.append(attempt(channel, "user@acme.test", "wrong", remote=PROXY, xff=forged)[0])
    assert results == ["failed", "failed", "held"]
    assert attempt(channel, "user@acme.test", PASSWORD, remote=PROXY, xff=f"192.0.2.77, {ATTACKER}")[0] == "held"
    assert attempt(channel, "user@acme.test", PASSWORD, remote=PROXY, xff=VICTIM_ADDRESS)[0] == "ok"
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
    failures = AuditEvent.objects.filter(action="auth.login_failed")
    assert set(failures.values_list("client_ip", flat=True)) == {ATTACKER}  # the audit trail's address too


def test_token_throttle_counts_the_client_address_not_the_forged_header(api, members, monkeypatch, settings):
    """DRF's own throttle identity is the whole X-Forwarded-For header: a new forged value was a new bucket."""
    settings.TRUSTED_PROXY_COUNT = 0
    monkeypatch.setattr(ClientAddressRateThrottle, "THROTTLE_RATES", {"token_create": "3/min"})
    body = {"email": "user@acme.test", "password": PASSWORD, "org": "acme"}
    for i in range(3):
        response = api.post("/api/v1/auth/token/", body, REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
        assert response.status_code == 201
    throttled = api.post("/api/v1/auth/token/", body, REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="192.0.2.50")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert api.post("/api/v1/auth/token/", body, REMOTE_ADDR=VICTIM_ADDRESS).status_code == 201  # control


def test_behind_a_proxy_the_throttle_is_per_client(api, members, monkeypatch, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    monkeypatch.setattr(ClientAddressRateThrottle, "THROTTLE_RATES", {"token_create": "2/min"})
    body = {"email": "user@acme.test", "password": PASSWORD, "org": "acme"}

    def via_proxy(client_address: str) -> int:
        return api.post("/api/v1/auth/token/", body, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=client_address).status_code

    assert [via_proxy(ATTACKER) for _ in range(3)] == [201, 201, 429]
    assert via_proxy(VICTIM_ADDRESS) == 201  # the proxy's address is not the bucket


# --- Nobody locks a victim out --------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_one_attacker_cannot_lock_the_victim_out(channel, members, settings, clock):
    """Hammering one account from one address locks that pair and delays the account by seconds at
    most; the victim, elsewhere, signs in once the short delay has passed."""
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_ACCOUNT_DELAY_AFTER = 3
    settings.LOGIN_ACCOUNT_DELAY_MAX = 30
    outcomes = []
    for _ in range(12):
        outcome, response = attempt(channel, "user@acme.test", "wrong", remote=ATTACKER)
        outcomes.append(outcome)
        if outcome == "held":
            assert int(response["Retry-After"]) <= 15 * 60
        clock.advance(31)  # the attacker waits out every account delay; the pair lock stays
    assert outcomes[-1] == "held"
    outcome, response = attempt(channel, "user@acme.test", PASSWORD, remote=VICTIM_ADDRESS)
    if outcome == "held":  # the account's delay: a few seconds, bounded
        assert int(response["Retry-After"]) <= 30
        clock.advance(int(response["Retry-After"]))
        outcome, _ = attempt(channel, "user@acme.test", PASSWORD, remote=VICTIM_ADDRESS)
    assert outcome == "ok"


@pytest.mark.parametrize("channel", CHANNELS)
def test_failures_from_many_addresses_delay_the_account_progressively_never_lock_it(channel, members, settings, clock):
    """A botnet (a new address for every guess) never reaches the pair lock; the account's delay slows it:
    from the third failure each one makes the next attempt wait 1, 2, 4... seconds, capped."""
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_ACCOUNT_DELAY_AFTER = 3
    settings.LOGIN_ACCOUNT_DELAY_MAX = 8
    waits, failures, address = [], 0, 0
    while failures < 8:
        address += 1
        outcome, response = attempt(channel, "user@acme.test", "wrong", remote=f"192.0.2.{address}")
        if outcome == "held":
            waits.append(int(response["Retry-After"]))
            clock.advance(waits[-1])
        else:
            assert outcome == "failed"
            failures += 1
    assert waits == [1, 2, 4, 8, 8]  # progressive, bounded by LOGIN_ACCOUNT_DELAY_MAX
    outcome, response = attempt(channel, "user@acme.test", PASSWORD, remote=VICTIM_ADDRESS)
    assert outcome == "held" and int(response["Retry-After"]) == 8  # the victim waits seconds, too
    clock.advance(8)
    assert attempt(channel, "user@acme.test", PASSWORD, remote=VICTIM_ADDRESS)[0] == "ok"  # never a lock
    assert attempt(channel, "user@acme.test", "wrong", remote="198.51.100.201")[0] == "failed"  # success cleared it
    assert attempt(channel, "user@acme.test", PASSWORD, remote="198.51.100.202")[0] == "ok"


@pytest.mark.parametrize("channel", CHANNELS)
def test_password_spraying_from_one_address_holds_that_address(channel, org, members, settings, clock):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 4
    settings.LOGIN_FAILURE_WINDOW = 600
    emails = ["viewer@acme.test", "user@acme.test", "provisioner@acme.test", "nobody@acme.test"]
    results = [attempt(channel, email, "Spring2026!", remote=ATTACKER)[0] for email in emails]
    assert results[:3] == ["failed"] * 3
    assert results[3] == "held"  # the failure that reached the limit already answers 429
    outcome, response = attempt(channel, "admin@acme.test", PASSWORD, remote=ATTACKER)
    assert outcome == "held" and 500 < int(response["Retry-After"]) <= 600
    assert attempt(channel, "admin@acme.test", PASSWORD, remote=VICTIM_ADDRESS)[0] == "ok"  # other addresses are fine
    clock.advance(601)
    assert attempt(channel, "admin@acme.test", PASSWORD, remote=ATTACKER)[0] == "ok"  # the hold ends with the window


def test_the_429_is_the_same_for_an_existing_and_an_unknown_account(members, settings):
    settings.AXES_FAILURE_LIMIT = 2
    bodies = {}
    for email in ("user@acme.test", "ghost@acme.test"):
        for _ in range(2):
            attempt("api", email, "wrong", remote=ATTACKER)
        outcome, response = attempt("api", email, "wrong", remote=ATTACKER)
        assert outcome == "held"
        bodies[email] = response.json()
    assert bodies["user@acme.test"] == bodies["ghost@acme.test"]
    assert "Retry-After" not in json.dumps(bodies)


# --- Audit ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_failed_logins_and_lockouts_are_audited_without_the_password(channel, members, settings):
    settings.AXES_FAILURE_LIMIT = 2
    attempt(channel, "  User@ACME.test ", CANARY_PASSWORD, remote=ATTACKER)
    attempt(channel, "user@acme.test", CANARY_PASSWORD, remote=ATTACKER)
    failed = AuditEvent.objects.filter(action="auth.login_failed").order_by("seq")
    assert failed.count() == 2
    first = failed.first()
    assert first.org is None and first.actor_type == "anonymous" and first.actor_user is None
    assert first.details == {"email": "user@acme.test", "reason": "password", "channel": channel}
    assert first.target_id == str(members["user"].pk) and first.client_ip == ATTACKER
    lockout = AuditEvent.objects.get(action="auth.locked_out")
    assert lockout.details["scope"] == "account_address" and lockout.details["email"] == "user@acme.test"
    assert lockout.details["retry_after"] > 0
    rows = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert CANARY_PASSWORD not in rows
    assert verify_chains()[1] == []


def test_a_password_typed_into_the_email_field_is_not_recorded(client, members):
    client.post("/login/", {"username": CANARY_PASSWORD, "password": "x"})
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.details["email"] == "(not an e-mail address)"
    assert CANARY_PASSWORD not in json.dumps(list(AuditEvent.objects.values()), default=str)


def test_a_login_with_an_empty_field_is_no_failed_login(client, members):
    client.post("/login/", {"username": "user@acme.test", "password": ""})
    assert not AuditEvent.objects.filter(action="auth.login_failed").exists()
    client.post("/login/", {"username": "user@acme.test", "password": "nope"})
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 1  # control


def test_account_delay_and_address_hold_are_audited_once(members, settings, clock):
    settings.LOGIN_ACCOUNT_DELAY_AFTER = 2
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    settings.AXES_FAILURE_LIMIT = 50
    for _ in range(3):
        attempt("api", "user@acme.test", "wrong", remote=ATTACKER)
        clock.advance(5)  # past the account's delay
    scopes = sorted(AuditEvent.objects.filter(action="auth.locked_out").values_list("details__scope", flat=True))
    assert scopes == ["account", "address"]


# --- The cache behind the limits -------------------------------------------------------------------


def test_limits_work_on_a_shared_redis_cache(members, settings, redis_url):
    """Production shares the counters between processes through Redis (CACHE_URL)."""
    db_url = redis_url.rsplit("/", 1)[0] + "/4" if redis_url.endswith("/15") else redis_url
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": db_url}}
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 2
    server = redis.Redis.from_url(db_url)
    for key in server.scan_iter("*authn:*"):
        server.delete(key)
    try:
        assert attempt("api", "user@acme.test", "wrong", remote=ATTACKER)[0] == "failed"
        assert attempt("api", "viewer@acme.test", "wrong", remote=ATTACKER)[0] == "held"
        assert list(server.scan_iter("*authn:login-address-hold:*"))
        assert attempt("api", "admin@acme.test", PASSWORD, remote=ATTACKER)[0] == "held"
    finally:
        for key in server.scan_iter("*authn:*"):
            server.delete(key)


# --- Concurrency: the platform chain stays one chain -----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_failed_logins_keep_the_platform_audit_chain_intact(members):
    errors = []

    def hammer(n: int) -> None:
        try:
            for i in range(5):
                attempt("api", f"ghost{n}-{i}@acme.test", "wrong", remote=f"192.0.2.{n}")
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert AuditEvent.objects.filter(org=None, action="auth.login_failed").count() == 30
    assert verify_chains()[1] == []
    assert not APIToken.objects.exists()
