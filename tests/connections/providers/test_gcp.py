"""Google Cloud (connections/providers/gcp/): the check against tests/fakes/google.py with a service account
key or workload identity federation; materialization."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from connections.providers import get_provider
from tests.connections.provider_examples import gcp_service_account_key_json
from tests.connections.providers.checks_cloud import (
    PROJECT,
    SA_EMAIL,
    WIF_PROVIDER,
    LocalIssuer,
    example,
    failed_check,
    issuer,  # noqa: F401
    make_ctx,
    run_check,
    subject_for,
)
from tests.connections.providers.conftest import cleaned, materialized
from tests.fakes.google import (
    fake_google,  # noqa: F401
    fake_google_server,  # noqa: F401
)


def test_gcp_service_account_key_token_then_project(fake_google):
    config, secrets_ = example("gcp", "service_account_key")
    fake_google.add_service_account_key(secrets_["service_account_key"])
    fake_google.add_project(PROJECT, members=[SA_EMAIL], number="424242")

    result = run_check("gcp", "service_account_key", config, secrets_, make_ctx("gcp-prod"))

    assert result.message == f"{SA_EMAIL} can access project {PROJECT} (number 424242)."
    token_request = fake_google.requests[0]
    assert token_request.path == "/token"  # the key's token_uri (Google's) was replaced by the endpoint


def test_gcp_key_that_google_does_not_know_fails_at_the_signature(fake_google):
    config, secrets_ = example("gcp", "service_account_key")
    fake_google.add_service_account_key(secrets_["service_account_key"])
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    secrets_["service_account_key"] = gcp_service_account_key_json(private_key=pem)  # same account, another key

    failure = failed_check("gcp", "service_account_key", config, secrets_, make_ctx("gcp-prod"))

    assert failure.reason == "Google refused the service account key: invalid_grant: Invalid JWT Signature."


def test_gcp_unknown_project_fails_with_google_message(fake_google):
    config, secrets_ = example("gcp", "service_account_key")
    fake_google.add_service_account_key(secrets_["service_account_key"])

    failure = failed_check("gcp", "service_account_key", config, secrets_, make_ctx("gcp-prod"))

    assert failure.reason == f"Project {PROJECT}: The caller does not have permission"


def test_gcp_unreachable_token_endpoint_fails_without_quoting_the_key(fake_google, settings):
    config, secrets_ = example("gcp", "service_account_key")
    settings.PROVIDER_ENDPOINTS = {**settings.PROVIDER_ENDPOINTS, "gcp_token": "http://127.0.0.1:9/token"}

    failure = failed_check("gcp", "service_account_key", config, secrets_, make_ctx("gcp-prod"))

    assert (
        failure.reason
        == "Could not reach Google's token endpoint at http://127.0.0.1:9/token ([Errno 111] Connection refused)."
    )


def test_gcp_workload_identity_exchanges_then_impersonates(fake_google, issuer):
    config, secrets_ = example("gcp", "workload_identity")
    fake_google.add_workload_identity_provider(WIF_PROVIDER, issuer=issuer.url, jwks_provider=issuer.jwks)
    fake_google.allow_impersonation(SA_EMAIL, provider=WIF_PROVIDER, subject=subject_for("gcp-wif"))
    fake_google.add_project(PROJECT, members=[SA_EMAIL])

    result = run_check("gcp", "workload_identity", config, secrets_, make_ctx("gcp-wif", issuer=issuer))

    assert result.message.startswith(f"{SA_EMAIL} can access project {PROJECT}")
    assert issuer.signed == [(f"//iam.googleapis.com/{WIF_PROVIDER}", "org:acme:connection:gcp-wif")]
    paths = [request.path for request in fake_google.requests]
    assert paths == [
        "/sts/v1/token",
        f"/iamcredentials/v1/projects/-/serviceAccounts/{SA_EMAIL}:generateAccessToken",
        f"/crm/v1/projects/{PROJECT}",
    ]


def test_gcp_workload_identity_without_impersonation_grant_fails(fake_google, issuer):
    config, secrets_ = example("gcp", "workload_identity")
    fake_google.add_workload_identity_provider(WIF_PROVIDER, issuer=issuer.url, jwks_provider=issuer.jwks)
    fake_google.add_project(PROJECT, members=[SA_EMAIL])

    failure = failed_check("gcp", "workload_identity", config, secrets_, make_ctx("gcp-wif", issuer=issuer))

    assert failure.reason == (
        f"Cannot impersonate {SA_EMAIL}: Permission 'iam.serviceAccounts.getAccessToken' denied on resource "
        "(or it may not exist)."
    )


def test_gcp_workload_identity_with_an_untrusted_issuer_fails_at_sts(fake_google, issuer):
    config, secrets_ = example("gcp", "workload_identity")
    fake_google.add_workload_identity_provider(WIF_PROVIDER, issuer=issuer.url, jwks_provider=LocalIssuer().jwks)

    failure = failed_check("gcp", "workload_identity", config, secrets_, make_ctx("gcp-wif", issuer=issuer))

    assert failure.reason.startswith("Google STS refused the platform's assertion: invalid_grant:")


# --- Materialization ------------------------------------------------------------------------------


def test_gcp_credentials_file(tmp_path: Path) -> None:
    out = materialized("gcp", "service_account_key")
    env = out.write(tmp_path)
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == str(tmp_path / "gcp-credentials.json")
    key = json.loads(Path(env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
    assert key["type"] == "service_account" and "BEGIN PRIVATE KEY" in key["private_key"]
    assert env["GOOGLE_CLOUD_PROJECT"] == env["CLOUDSDK_CORE_PROJECT"] == "my-project-123456"


def test_gcp_workload_identity_external_account_file(tmp_path: Path) -> None:
    config, _ = cleaned("gcp", "workload_identity")
    out = get_provider("gcp").materialize("workload_identity", config, {"oidc_token": "header.payload.sig"})
    env = out.write(tmp_path)
    data = json.loads(Path(env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
    assert data["type"] == "external_account"
    assert data["audience"].startswith("//iam.googleapis.com/projects/123456789012/")
    assert Path(data["credential_source"]["file"]).read_text() == "header.payload.sig"
