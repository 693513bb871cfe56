"""Password reset and change (issue 8, items 4 and 7): reset requests are limited per client address and
per target e-mail, answer the same whether the account exists, and are audited with their completion;
password changes are audited; a system check warns when reset links would go to the logs."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts.authn import checks
from accounts.models import AuditEvent, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-Passw0rd-for-tests"


def request_reset(email: str, remote: str = "127.0.0.1"):
    return Client().post("/password-reset/", {"email": email}, REMOTE_ADDR=remote)


def test_reset_answers_the_same_whether_the_account_exists(members):
    known, unknown = request_reset("user@acme.test"), request_reset("nobody@acme.test")
    expected = (302, "/password-reset/sent/")
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"]) == expected
    assert set(known.headers) == set(unknown.headers)
    assert [m.to for m in mail.outbox] == [["user@acme.test"]]
    events = {e.details["email"]: e for e in AuditEvent.objects.filter(action="auth.password_reset_requested")}
    assert events["user@acme.test"].details["account_exists"] is True
    assert events["nobody@acme.test"].details["account_exists"] is False
    assert all(e.org is None and e.actor_type == "anonymous" for e in events.values())


def test_reset_mails_per_email_are_limited_silently(members, settings):
    settings.PASSWORD_RESET_EMAIL_LIMIT = 2
    responses = [request_reset("User@acme.test", remote=f"192.0.2.{i}") for i in range(4)]
    assert {(r.status_code, r["Location"]) for r in responses} == {(302, "/password-reset/sent/")}
    assert len(mail.outbox) == 2  # no mailbox flooding; the answer does not change
    flags = list(
        AuditEvent.objects.filter(action="auth.password_reset_requested").order_by("seq").values_list(
            "details__mail_sent", "details__rate_limited"
        )
    )
    assert flags == [(True, False), (True, False), (False, True), (False, True)]


def test_reset_requests_per_address_are_limited(members, settings):
    settings.PASSWORD_RESET_ADDRESS_LIMIT = 3
    statuses = [request_reset(f"someone{i}@acme.test", remote="203.0.113.5").status_code for i in range(3)]
    assert statuses == [302, 302, 302]
    held = request_reset("user@acme.test", remote="203.0.113.5")
    assert held.status_code == 429 and int(held["Retry-After"]) > 0
    assert "Too many password reset requests" in held.content.decode()
    assert mail.outbox == []
    assert request_reset("user@acme.test", remote="198.51.100.7").status_code == 302  # control: another address


def test_reset_completion_is_audited_and_still_needs_the_second_factor_later(members):
    request_reset("user@acme.test")
    link = re.search(r"https?://[^/]+(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    client = Client()
    form_url = client.get(link)["Location"]
    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" not in client.session  # no automatic sign-in
    assert User.objects.get(email="user@acme.test").check_password(NEW_PASSWORD)
    event = AuditEvent.objects.get(action="auth.password_reset_completed")
    assert event.org is None and event.actor_user == members["user"] and event.target_id == str(members["user"].pk)
    assert NEW_PASSWORD not in str(event.details)


def test_password_change_is_audited_and_keeps_the_session(members):
    client = Client()
    client.force_login(members["viewer"])
    response = client.post(
        "/password-change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert client.get("/").status_code in (200, 302) and "_auth_user_id" in client.session
    assert User.objects.get(pk=members["viewer"].pk).check_password(NEW_PASSWORD)
    event = AuditEvent.objects.get(action="auth.password_changed")
    assert event.org is None and event.actor_user == members["viewer"]
    assert NEW_PASSWORD not in str(AuditEvent.objects.values_list("details", flat=True))


def test_a_wrong_old_password_changes_nothing(members):
    client = Client()
    client.force_login(members["viewer"])
    response = client.post(
        "/password-change/", {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="auth.password_changed").exists()


# --- System checks ----------------------------------------------------------------------------------


def test_console_mail_with_debug_off_warns(settings):
    settings.DEBUG = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert [m.id for m in checks.check_reset_mail_backend()] == ["accounts.W001"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert checks.check_reset_mail_backend() == []
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert checks.check_reset_mail_backend() == []  # development: the console is where mail belongs


def test_a_per_process_cache_with_debug_off_warns(settings):
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert [m.id for m in checks.check_shared_cache()] == ["accounts.W002"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}}
    assert checks.check_shared_cache() == []


def test_the_checks_are_registered_with_the_deploy_checks():
    from django.core.checks import registry

    registered = registry.registry.get_checks(include_deployment_checks=True)
    assert checks.check_reset_mail_backend in registered and checks.check_shared_cache in registered
