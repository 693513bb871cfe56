"""Token lineage: a token minted by a token never outlives or outranks it, records its parent, and is
revoked with it (one transaction, one audit event that counts them). Through the API, as token clients."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.audit import redact
from accounts.choices import AuditAction, RoleChoices
from accounts.models import APIToken, AuditEvent
from tests.accounts.conftest import issue_token, token_client

pytestmark = pytest.mark.django_db


def _mint(value: str, org, **body):
    return token_client(value).post(f"/api/v1/orgs/{org.slug}/tokens/", {"name": "child", **body}, format="json")


def test_child_cannot_outlive_its_parent(members, org):
    parent_expiry = timezone.now() + timedelta(days=2)
    parent = issue_token(members["admin"], org, expires_at=parent_expiry)
    later = (parent_expiry + timedelta(hours=1)).isoformat()
    response = _mint(parent, org, expires_at=later)
    assert response.status_code == 400
    assert "outlive" in response.json()["error"]["fields"]["expires_at"][0]
    # No expiry given: the child gets the parent's.
    response = _mint(parent, org)
    assert response.status_code == 201
    child = APIToken.objects.get(pk=response.json()["id"])
    assert child.expires_at == APIToken.objects.get(name="t").expires_at
    # An earlier expiry is fine.
    assert _mint(parent, org, expires_at=(parent_expiry - timedelta(days=1)).isoformat()).status_code == 201


def test_parent_without_expiry_may_mint_any_expiry(members, org):
    parent = issue_token(members["admin"], org)
    response = _mint(parent, org, expires_at=(timezone.now() + timedelta(days=400)).isoformat())
    assert response.status_code == 201
    assert response.json()["expires_at"] is not None


def test_child_cannot_outrank_its_parent(members, org):
    parent = issue_token(members["admin"], org, role_cap=RoleChoices.USER)
    response = _mint(parent, org, role_cap=RoleChoices.ADMIN)
    assert response.status_code == 400 and "role_cap" in response.json()["error"]["fields"]
    response = _mint(parent, org)  # no cap asked: capped at the parent's effective role
    assert response.status_code == 201 and response.json()["role_cap"] == RoleChoices.USER
    assert _mint(parent, org, role_cap=RoleChoices.VIEWER).status_code == 201


def test_lineage_is_stored_and_revoking_revokes_descendants(members, org, api_as):
    root = issue_token(members["admin"], org, name="root")
    child = _mint(root, org).json()
    grandchild = _mint(child["token"], org, name="grandchild").json()
    unrelated = issue_token(members["admin"], org, name="unrelated")
    root_token = APIToken.objects.get(name="root")
    assert APIToken.objects.get(pk=child["id"]).parent == root_token
    assert APIToken.objects.get(pk=grandchild["id"]).parent_id == child["id"]

    response = token_client(unrelated).delete(f"/api/v1/orgs/{org.slug}/tokens/{root_token.pk}/")
    assert response.status_code == 200
    assert set(APIToken.objects.filter(revoked_at__isnull=False).values_list("name", flat=True)) == {
        "root", "child", "grandchild"
    }  # fmt: skip
    assert token_client(grandchild["token"]).get("/api/v1/me").status_code == 401
    assert token_client(unrelated).get("/api/v1/me").status_code == 200
    [event] = AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED)
    assert event.details["descendants_revoked"] == 2
    assert grandchild["token"] not in str(event.details) and root not in str(event.details)


def test_revoking_a_child_leaves_the_parent(members, org):
    root = issue_token(members["admin"], org, name="root")
    child = _mint(root, org).json()
    assert token_client(root).delete(f"/api/v1/orgs/{org.slug}/tokens/{child['id']}/").status_code == 200
    assert APIToken.objects.get(name="root").revoked_at is None
    assert AuditEvent.objects.get(action=AuditAction.TOKEN_REVOKED).details["descendants_revoked"] == 0


@pytest.mark.parametrize(
    ("key", "value", "hidden"),
    [
        ("descendants_revoked", 3, False),
        ("tokens_revoked", 2, False),
        ("revoked_count", 5, False),
        ("count", 1, False),
        ("token_prefix", "ccp_abc", False),
        ("secret_fields", ["client_secret"], False),
        ("password_changed_at", "2026-01-01", False),
        ("password_set", True, False),
        ("token", "ccp_secretvalue", True),
        ("client_secret", "s3cr3t", True),
        ("new_password", "hunter2", True),
        ("privateKey", "-----BEGIN", True),
        ("api_key", "abc", True),
        ("access_token", "xyz", True),
    ],
)
def test_redaction_hides_secrets_not_facts_about_them(key, value, hidden):
    assert (redact({key: value})[key] == "[redacted]") is hidden
