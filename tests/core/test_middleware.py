"""Request context middleware (core/middleware.py): the request id and client IP reach the response and the
audit trail."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_changes_are_audited_with_request_id_and_ip(api_as, org):
    response = api_as("admin").post(
        "/api/v1/orgs/acme/environments/", {"slug": "qa", "name": "QA"}, HTTP_X_REQUEST_ID="req-12345678"
    )
    assert response.status_code == 201 and response["X-Request-ID"] == "req-12345678"
    event = AuditEvent.objects.get(action="environment.created")
    assert (event.actor_label, event.request_id, event.client_ip) == ("admin@acme.test", "req-12345678", "127.0.0.1")
    assert event.target_repr == "acme/qa" and event.environment == "qa"
