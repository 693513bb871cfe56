"""The API's one JSON error shape (core/api/errors.py): parse errors, not authenticated, not found, and a
service that is unavailable (the audit trail) answering 503 with the change rolled back."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from accounts.models import AuditEvent, Environment

pytestmark = pytest.mark.django_db


def test_failed_audit_write_rolls_back_the_change(api_as, org, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise DatabaseError("audit table unavailable")

    monkeypatch.setattr(AuditEvent, "save", broken_save)
    response = api_as("admin").post("/api/v1/orgs/acme/environments/", {"slug": "qa"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "audit_unavailable"
    assert not Environment.objects.filter(org=org, slug="qa").exists()
    delete = api_as("admin").delete("/api/v1/orgs/acme/environments/staging/")
    assert delete.status_code == 503
    assert Environment.objects.filter(org=org, slug="staging").exists()


def test_malformed_json_is_a_400(api_as, org):
    response = api_as("admin").generic(
        "POST", "/api/v1/orgs/acme/environments/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_unauthenticated_requests_get_401_json(api, org):
    response = api.get("/api/v1/orgs/acme/environments/")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


def test_unknown_api_path_is_json_404(api_as, org):
    response = api_as("admin").get("/api/v1/nothing-here/")
    assert response.status_code == 404
