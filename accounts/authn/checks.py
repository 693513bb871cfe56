"""System checks for authentication in production (`manage.py check --deploy` prints them)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

CONSOLE_EMAIL_BACKENDS = ("django.core.mail.backends.console.EmailBackend",)
PER_PROCESS_CACHES = ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache")


@checks.register(checks.Tags.security)
def check_reset_mail_backend(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """With DEBUG off, the console backend writes every mail, password-reset links included, to the logs."""
    if settings.DEBUG or settings.EMAIL_BACKEND not in CONSOLE_EMAIL_BACKENDS:
        return []
    return [
        checks.Warning(
            "E-mail goes to the console: password-reset links would end up in the logs, unnoticed.",
            hint="Set EMAIL_URL to your mail server, e.g. smtp+tls://user:password@smtp.example.com:587.",
            id="accounts.W001",
        )
    ]


@checks.register(checks.Tags.security)
def check_shared_cache(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """With DEBUG off, login limits and API throttles need one cache all processes share."""
    if settings.DEBUG or settings.CACHES["default"]["BACKEND"] not in PER_PROCESS_CACHES:
        return []
    return [
        checks.Warning(
            "The cache is per process: each gunicorn worker counts failed logins and throttles on its own.",
            hint="Set CACHE_URL to a shared cache, e.g. redis://redis:6379/1.",
            id="accounts.W002",
        )
    ]
