"""The OIDC issuer's signing keys (identity/keys.py): signed assertions, the one active key, rotation,
secrecy of the private key, and an end-to-end exchange with azure-identity against a fake Entra ID.
Discovery and the JWKS documents are in test_views.py, the admin in test_admin.py, the command in
test_commands.py."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientAssertionCredential, ClientSecretCredential
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from core import crypto
from identity import keys
from identity.keys import do_rotate_signing_key, get_active_key, jwks, sign_assertion, subject_for
from identity.models import SigningKey, SigningKeyStatusChoices
from tests.identity.conftest import (
    ARM_SCOPE,
    AUDIENCE,
    CLIENT_ID,
    ISSUER,
    SUBJECT,
    b64url_int,
    fetch_jwks,
    shift_time,
    verify,
)

from .fake_azure import AZURE_AD_TOKEN_EXCHANGE, JWT_BEARER, FakeAzureAD

pytestmark = pytest.mark.django_db


# ----------------------------------------------------------------------------------------------- tokens


def test_assertion_verifies_with_the_published_jwks_only(client: Client) -> None:
    token = sign_assertion(audience=AUDIENCE, subject=SUBJECT, lifetime=120, extra={"connection_id": "c-1"})

    claims = verify(token, client)
    header = jwt.get_unverified_header(token)

    assert header["alg"] == "RS256" and header["kid"] == get_active_key().kid
    assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE and claims["sub"] == SUBJECT
    assert claims["exp"] - claims["iat"] == 120 and claims["nbf"] == claims["iat"]
    assert abs(claims["iat"] - timezone.now().timestamp()) < 5
    assert claims["connection_id"] == "c-1"
    assert len(claims["jti"]) >= 16
    assert (
        claims["jti"]
        != jwt.decode(sign_assertion(audience=AUDIENCE, subject=SUBJECT), options={"verify_signature": False})["jti"]
    )


def test_expired_assertion_fails(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    shift_time(monkeypatch, -timedelta(minutes=10))
    token = sign_assertion(audience=AUDIENCE, subject=SUBJECT, lifetime=300)
    monkeypatch.undo()

    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token, client)


def test_wrong_audience_fails(client: Client) -> None:
    token = sign_assertion(audience="api://someone-else", subject=SUBJECT)

    with pytest.raises(jwt.InvalidAudienceError):
        verify(token, client)


def test_assertion_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="registered claims: sub"):
        sign_assertion(audience=AUDIENCE, subject=SUBJECT, extra={"sub": "org:evil:connection:x"})
    with pytest.raises(ValueError, match="lifetime"):
        sign_assertion(audience=AUDIENCE, subject=SUBJECT, lifetime=0)
    with pytest.raises(ValueError, match="lifetime"):
        sign_assertion(audience=AUDIENCE, subject=SUBJECT, lifetime=86400)
    with pytest.raises(ValueError, match="audience"):
        sign_assertion(audience="", subject=SUBJECT)


def test_subject_names_org_and_connection() -> None:
    assert subject_for("acme", "azure-prod") == "org:acme:connection:azure-prod"
    for org_slug, name in [("acme:connection:x", "y"), ("acme", "a:b"), ("", "x"), ("Acme", "x")]:
        with pytest.raises(ValueError):
            subject_for(org_slug, name)


def test_signing_reuses_the_decrypted_key(monkeypatch: pytest.MonkeyPatch) -> None:
    get_active_key()
    keys.clear_key_cache()
    calls = []
    real_decrypt = crypto.decrypt
    monkeypatch.setattr(crypto, "decrypt", lambda *a, **kw: calls.append(1) or real_decrypt(*a, **kw))

    for _ in range(3):
        sign_assertion(audience=AUDIENCE, subject=SUBJECT)

    assert len(calls) == 1


# ------------------------------------------------------------------------------------------ active key


def test_first_key_is_created_once_and_audited() -> None:
    first = get_active_key()

    assert get_active_key() == first
    assert SigningKey.objects.count() == 1
    assert first.status == SigningKeyStatusChoices.ACTIVE and first.activated_at is not None
    event = AuditEvent.objects.get(action=keys.AuditAction.OIDC_KEY_CREATED)
    assert event.org is None and event.target_id == str(first.pk) and event.details["kid"] == first.kid


def test_database_allows_one_active_key_only() -> None:
    key = get_active_key()

    with pytest.raises(IntegrityError), transaction.atomic():
        SigningKey.objects.create(public_jwk=key.public_jwk, private_key_envelope="", status="active")


def test_lost_creation_race_uses_the_winner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes both see no key; the unique index stops the second insert and it adopts the first key."""
    winner = get_active_key()
    real_active = keys._active_key
    calls = []

    def active_key_racing() -> SigningKey | None:
        calls.append(1)
        return None if len(calls) <= 2 else real_active()  # both checks miss the winner's commit

    monkeypatch.setattr(keys, "_active_key", active_key_racing)

    assert get_active_key() == winner
    assert SigningKey.objects.filter(status="active").count() == 1


# --------------------------------------------------------------------------------------------- rotation


def test_rotation_keeps_old_tokens_valid_until_the_overlap_passes(
    client: Client, monkeypatch: pytest.MonkeyPatch, django_user_model
) -> None:
    old = get_active_key()
    old_token = sign_assertion(audience=AUDIENCE, subject=SUBJECT)
    actor = django_user_model.objects.create_superuser(email="ops@platform.test", password="x" * 12)

    new = do_rotate_signing_key(actor=actor)
    new_token = sign_assertion(audience=AUDIENCE, subject=SUBJECT)

    assert new.kid != old.kid
    assert jwt.get_unverified_header(new_token)["kid"] == new.kid
    assert [key["kid"] for key in fetch_jwks(client)["keys"]] == [new.kid, old.kid]
    assert verify(old_token, client)["sub"] == SUBJECT
    assert verify(new_token, client)["sub"] == SUBJECT
    old.refresh_from_db()
    assert old.status == SigningKeyStatusChoices.RETIRING and old.retiring_at is not None
    rotated = AuditEvent.objects.get(action=keys.AuditAction.OIDC_KEY_ROTATED)
    assert rotated.details["old_kid"] == old.kid and rotated.details["new_kid"] == new.kid
    assert rotated.actor_user == actor

    # Just before the overlap ends the old key is still published; after it, it is gone even unpruned.
    assert old.kid in {key["kid"] for key in jwks(now=timezone.now() + timedelta(hours=23, minutes=59))["keys"]}
    shift_time(monkeypatch, timedelta(hours=24, seconds=1))
    assert [key["kid"] for key in fetch_jwks(client)["keys"]] == [new.kid]

    assert keys.prune_signing_keys() == [old.kid]
    old.refresh_from_db()
    assert old.status == SigningKeyStatusChoices.RETIRED and old.retired_at is not None
    assert old.private_key_envelope == ""  # nothing left to steal
    assert AuditEvent.objects.filter(action=keys.AuditAction.OIDC_KEY_RETIRED, target_id=str(old.pk)).exists()
    assert keys.prune_signing_keys() == []


def test_overlap_is_configurable_and_rotation_prunes(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.OIDC_KEY_OVERLAP = 3600  # seconds, or a timedelta
    first = get_active_key()
    second = do_rotate_signing_key()
    shift_time(monkeypatch, timedelta(hours=2))

    third = do_rotate_signing_key()  # retires "first" (its hour has passed); "second" just started retiring

    statuses = dict(SigningKey.objects.values_list("kid", "status"))
    assert statuses == {first.kid: "retired", second.kid: "retiring", third.kid: "active"}
    assert [key["kid"] for key in jwks()["keys"]] == [third.kid, second.kid]


# ------------------------------------------------------------------------------------ private key secrecy


def test_private_key_never_leaves_encrypted_storage(client: Client, admin_client: Client) -> None:
    key = get_active_key()
    private_numbers = keys._private_key(key).private_numbers()
    secrets_ = [b64url_int(private_numbers.d), b64url_int(private_numbers.p), b64url_int(private_numbers.q)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key_envelope FROM identity_signingkey WHERE kid = %s", [key.kid])
        (raw,) = cursor.fetchone()

    assert raw.startswith("v1:") and "PRIVATE KEY" not in raw and "BEGIN" not in raw
    published = fetch_jwks(client)
    assert all(not keys.PRIVATE_JWK_MEMBERS & jwk.keys() for jwk in published["keys"])

    pages = [
        admin_client.get("/admin/identity/signingkey/"),
        admin_client.get(f"/admin/identity/signingkey/{key.pk}/change/"),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert "PRIVATE KEY" not in html and raw not in html and "private_key_envelope" not in html
        assert not any(secret in html for secret in secrets_)
    assert key.public_jwk["n"] in pages[1].content.decode()
    assert "PRIVATE KEY" not in repr(key) and raw not in repr(key)


# ------------------------------------------------------------------------------- Azure, end to end (fake)


def assertion_credential(fake: FakeAzureAD, subject: str, audience: str = AZURE_AD_TOKEN_EXCHANGE) -> Any:
    return ClientAssertionCredential(
        fake.tenant_id,
        CLIENT_ID,
        func=lambda: sign_assertion(audience=audience, subject=subject),
        authority=fake.authority,
        disable_instance_discovery=True,
        connection_verify=str(fake.ca_file),
    )


@pytest.mark.django_db(transaction=True)
def test_azure_accepts_our_assertion(fake_azure: FakeAzureAD) -> None:
    subject = subject_for("acme", "azure-prod")
    fake_azure.add_federated_credential(client_id=CLIENT_ID, issuer=ISSUER, subject=subject)

    token = assertion_credential(fake_azure, subject).get_token(ARM_SCOPE)

    (issued,) = fake_azure.issued_tokens
    assert token.token == issued.access_token and token.token.startswith("fake-")
    assert issued.subject == subject and issued.method == "client_assertion" and issued.scope == ARM_SCOPE
    (request,) = fake_azure.token_requests
    assert request.form["client_assertion_type"] == JWT_BEARER
    assert request.form["client_id"] == CLIENT_ID and request.status == 200
    assert jwt.get_unverified_header(request.form["client_assertion"])["kid"] == get_active_key().kid


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("token_url", ["fake", "public"])
def test_azure_accepts_the_token_url_as_audience(fake_azure: FakeAzureAD, token_url: str) -> None:
    subject = subject_for("acme", "azure-prod")
    fake_azure.add_federated_credential(client_id=CLIENT_ID, issuer=ISSUER, subject=subject)
    audience = fake_azure.token_url() if token_url == "fake" else fake_azure.public_token_url()

    assert assertion_credential(fake_azure, subject, audience).get_token(ARM_SCOPE).token.startswith("fake-")


@pytest.mark.django_db(transaction=True)
def test_azure_rejects_a_mismatching_subject(fake_azure: FakeAzureAD) -> None:
    fake_azure.add_federated_credential(client_id=CLIENT_ID, issuer=ISSUER, subject=subject_for("acme", "azure-prod"))

    with pytest.raises(ClientAuthenticationError) as excinfo:
        assertion_credential(fake_azure, subject_for("acme", "azure-dev")).get_token(ARM_SCOPE)

    assert "AADSTS700213: No matching federated identity record found" in str(excinfo.value)
    assert "org:acme:connection:azure-dev" in str(excinfo.value)
    assert fake_azure.issued_tokens == []
    assert fake_azure.token_requests[-1].response["error"] == "invalid_client"


@pytest.mark.django_db(transaction=True)
def test_azure_strict_audience_and_issuer(fake_azure: FakeAzureAD, settings) -> None:
    subject = subject_for("acme", "azure-prod")
    fake_azure.add_federated_credential(client_id=CLIENT_ID, issuer=ISSUER, subject=subject)
    fake_azure.accept_token_url_audience = False

    with pytest.raises(ClientAuthenticationError, match="AADSTS700212"):
        assertion_credential(fake_azure, subject, fake_azure.token_url()).get_token(ARM_SCOPE)
    settings.OIDC_ISSUER_URL = "https://impostor.example.test"
    with pytest.raises(ClientAuthenticationError, match="AADSTS700211"):
        assertion_credential(fake_azure, subject).get_token(ARM_SCOPE)


@pytest.mark.django_db(transaction=True)
def test_azure_rejects_a_forged_signature(fake_azure: FakeAzureAD) -> None:
    subject = subject_for("acme", "azure-prod")
    fake_azure.add_federated_credential(client_id=CLIENT_ID, issuer=ISSUER, subject=subject)
    kid = get_active_key().kid
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(timezone.now().timestamp())
    claims = {"iss": ISSUER, "sub": subject, "aud": AZURE_AD_TOKEN_EXCHANGE, "iat": now, "nbf": now, "exp": now + 60}
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": kid})
    credential = ClientAssertionCredential(
        fake_azure.tenant_id,
        CLIENT_ID,
        func=lambda: forged,
        authority=fake_azure.authority,
        disable_instance_discovery=True,
        connection_verify=str(fake_azure.ca_file),
    )

    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        credential.get_token(ARM_SCOPE)


@pytest.mark.django_db(transaction=True)
def test_azure_trusts_assertions_across_a_rotation(fake_azure: FakeAzureAD) -> None:
    subject = subject_for("acme", "azure-prod")
    fake_azure.add_federated_credential(client_id=CLIENT_ID, issuer=ISSUER, subject=subject)
    before = sign_assertion(audience=AZURE_AD_TOKEN_EXCHANGE, subject=subject)
    do_rotate_signing_key()

    for assertion in (before, sign_assertion(audience=AZURE_AD_TOKEN_EXCHANGE, subject=subject)):
        credential = ClientAssertionCredential(
            fake_azure.tenant_id,
            CLIENT_ID,
            func=lambda assertion=assertion: assertion,
            authority=fake_azure.authority,
            disable_instance_discovery=True,
            connection_verify=str(fake_azure.ca_file),
        )
        assert credential.get_token(ARM_SCOPE).token.startswith("fake-")
    kids = [jwt.get_unverified_header(r.form["client_assertion"])["kid"] for r in fake_azure.token_requests]
    assert len(set(kids)) == 2


def test_fake_azure_client_secret_grant(fake_azure: FakeAzureAD) -> None:
    fake_azure.add_client_secret(client_id=CLIENT_ID, secret="s3cret-value")

    def credential(secret: str) -> ClientSecretCredential:
        return ClientSecretCredential(
            fake_azure.tenant_id,
            CLIENT_ID,
            secret,
            authority=fake_azure.authority,
            disable_instance_discovery=True,
            connection_verify=str(fake_azure.ca_file),
        )

    assert credential("s3cret-value").get_token(ARM_SCOPE).token == fake_azure.issued_tokens[0].access_token
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        credential("wrong-secret").get_token(ARM_SCOPE)
    assert [r.form.get("client_secret") for r in fake_azure.token_requests] == ["s3cret-value", "wrong-secret"]
    discovery = [r for r in fake_azure.requests if r.method == "GET"]
    assert discovery and all(r.status == 200 for r in discovery)
    assert json.dumps(discovery[0].response)  # recorded responses are plain JSON


def test_fake_azure_unknown_tenant(fake_azure: FakeAzureAD) -> None:
    credential = ClientSecretCredential(
        "not-a-tenant",
        CLIENT_ID,
        "x",
        authority=fake_azure.authority,
        disable_instance_discovery=True,
        connection_verify=str(fake_azure.ca_file),
    )

    with pytest.raises(ClientAuthenticationError):
        credential.get_token(ARM_SCOPE)
    assert fake_azure.requests[0].status == 400
    assert "AADSTS90002" in fake_azure.requests[0].response["error_description"]
