"""Keeping OAuth connections' access tokens alive: the refresh before expiry.

Its own module (not `services`) because the Celery task that runs it is imported by `services`; imports go
one way: services -> tasks -> oauth_tokens, like `role_validation`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.audit import record_event
from accounts.choices import AuditAction
from accounts.policy import Action, check

from .choices import HealthStatusChoices
from .models import Connection
from .providers.oauth import OAuthError
from .secrets import load_secrets, store_secrets

__all__ = ["do_refresh_oauth_token"]


def _locked(connection: Connection) -> Connection:
    return Connection.objects.select_for_update().select_related("org").get(pk=connection.pk)


@transaction.atomic  # not durable: `runtime.use_credentials` refreshes on use, possibly inside a caller's transaction
def do_refresh_oauth_token(connection: Connection, *, actor: Any, margin_seconds: int) -> bool:
    """Renew an expiring OAuth access token with its refresh token; True when a new token was stored.

    The row stays locked across the call to the provider on purpose: providers rotate the refresh token at
    each use, so two workers refreshing at once would leave one of them holding a dead token. A refusal
    (revoked grant, app removed) is recorded in the connection's health and in the audit event, and the
    stored tokens stay as they were for the user to reconnect.
    """
    check(actor, Action.USE_CONNECTION, connection)
    connection = _locked(connection)
    flow = connection.provider_spec.oauth_for(connection.auth_method)
    due = connection.oauth_expires_at is not None and connection.oauth_expires_at <= timezone.now() + timedelta(
        seconds=margin_seconds
    )
    if flow is None or not due:
        return False
    stored = load_secrets(connection)
    if not stored.get("refresh_token"):
        return False
    try:
        grant = flow.refresh(connection.config, stored["refresh_token"])
    except OAuthError as exc:
        reason = f"OAuth token refresh failed: {exc.reason}"[:1000]
        connection.health_status, connection.last_check_error = HealthStatusChoices.UNHEALTHY, reason
        connection.save(update_fields=["health_status", "last_check_error", "updated_at"])
        record_event(
            org=connection.org,
            action=AuditAction.CONNECTION_OAUTH_REFRESHED,
            actor=actor,
            target=connection,
            details={"outcome": "failed", "error": reason},
        )
        return False
    store_secrets(connection, {**stored, **grant.secrets()})
    connection.oauth_expires_at = grant.expires_at
    if grant.scopes is not None:
        connection.oauth_scopes = grant.scopes
    connection.save()
    record_event(
        org=connection.org,
        action=AuditAction.CONNECTION_OAUTH_REFRESHED,
        actor=actor,
        target=connection,
        details={"outcome": "refreshed", "oauth": grant.public(), "secret_fields": sorted(grant.secrets())},
    )
    return True
