"""Helpers of the cloud providers' check tests (test_aws, test_ecr, test_s3_backend, test_azure, test_gcp, test_gcr,
test_gcs_backend): "Test connection" against real protocol peers on loopback.

AWS runs against moto's server (``AWS_ENDPOINT_URL``), Azure against the fake Entra ID of
``tests/identity/fake_azure.py`` over TLS, GCP/GCR/GCS against ``tests/fakes/google.py``. The platform's
OIDC assertions come from a local RS256 issuer whose JWKS the fakes trust, as a cloud would trust the
platform's published JWKS. Every result and every failure is checked for leaked secret values.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from connections.providers import get_provider
from connections.providers.aws import clients as aws_clients
from connections.providers.contract import CheckContext, CheckFailed, CheckResult, ReferencedCredentials
from core.masking import mask, secret_values
from tests.connections.provider_examples import valid_examples
from tests.fakes.google import FakeGoogle
from tests.identity.fake_azure import FakeAzureAD

ORG = "acme"
EXTERNAL_ID = "ext-7f3c2a91d4b8e6f0"
OTHER_ACCOUNT = "999999999999"
PROJECT = "my-project-123456"
SA_EMAIL = f"terraform@{PROJECT}.iam.gserviceaccount.com"
WIF_PROVIDER = "projects/123456789012/locations/global/workloadIdentityPools/platform-pool/providers/oidc"


class LocalIssuer:
    """The platform's OIDC issuer in miniature: one RS256 key, its JWKS, assertions for a connection subject.

    Used instead of ``identity.keys`` so these tests need no database (the fakes verify from their
    own threads); the claims mirror ``identity.keys.sign_assertion``.
    """

    url = "https://platform.example.test"

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        self.signed: list[tuple[str, str]] = []  # (audience, subject)

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def sign(self, audience: str, subject: str) -> str:
        self.signed.append((audience, subject))
        now = int(time.time())
        claims = {"iss": self.url, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + 300}
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def signer_for(self, connection_name: str) -> Callable[[str], str]:
        subject = subject_for(connection_name)
        return lambda audience: self.sign(audience, subject)


def subject_for(connection_name: str) -> str:
    return f"org:{ORG}:connection:{connection_name}"


class RecordingContext(CheckContext):
    """A CheckContext whose test can read the parameters of every boto3 call made during it
    (`record_boto_calls` hooks every client the AWS provider gets from its client cache)."""

    calls: list[tuple[str, dict[str, Any]]]

    def params_of(self, operation: str) -> dict[str, Any]:
        return next(params for name, params in self.calls if name == operation)


RECORDED_CALLS: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture(autouse=True)
def record_boto_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every boto3 call's parameters go to RECORDED_CALLS (autouse in the modules that import it: the AWS ones)."""
    real = aws_clients.client
    RECORDED_CALLS.clear()

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        RECORDED_CALLS.append((model.name, dict(params)))

    def recording_client(*args: Any, **kwargs: Any) -> Any:
        client = real(*args, **kwargs)
        # A connection's client is a BoundClient around a shared one: hook the shared client once
        # (unique_id), whichever wrapper hands it out.
        client.meta.events.register("provide-client-params.*.*", record, unique_id="tests-record-boto-calls")
        return client

    monkeypatch.setattr(aws_clients, "client", recording_client)


def make_ctx(
    connection_name: str,
    *,
    issuer: LocalIssuer | None = None,
    ref: ReferencedCredentials | None = None,
    role_arn: str | None = None,
) -> RecordingContext:
    ctx = RecordingContext(
        org_slug=ORG,
        connection_name=connection_name,
        external_id=EXTERNAL_ID,
        role_arn=role_arn,
        ref=ref,
        sign_assertion=issuer.signer_for(connection_name) if issuer else None,
        timeout=5.0,
    )
    ctx.calls = RECORDED_CALLS
    return ctx


def example(provider: str, auth_method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return valid_examples()[provider][auth_method]


def assert_clean(outcome: CheckResult | CheckFailed, *payloads: Any) -> None:
    """No secret value (nor any line of a multi-line one, e.g. a PEM key) appears in what users see, and
    nothing looks like one either: the caller masks the reason again before storing it, which would
    otherwise garble a harmless message."""
    text = outcome.message if isinstance(outcome, CheckResult) else outcome.reason
    shown = text + json.dumps(outcome.details, default=str)
    for value in secret_values(list(payloads)):
        if len(value) >= 8 and not value.startswith("-----"):
            assert value not in shown, "a secret value leaked into the check outcome"
    assert mask(text) == text


def run_check(provider: str, auth_method: str, config: dict, secrets_: dict, ctx: CheckContext) -> CheckResult:
    result = get_provider(provider).check(auth_method, config, secrets_, ctx)
    assert isinstance(result, CheckResult)
    assert_clean(result, secrets_, ctx.ref.secrets if ctx.ref else {})
    return result


def failed_check(provider: str, auth_method: str, config: dict, secrets_: dict, ctx: CheckContext) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        get_provider(provider).check(auth_method, config, secrets_, ctx)
    assert_clean(info.value, secrets_, ctx.ref.secrets if ctx.ref else {})
    return info.value


@pytest.fixture
def issuer() -> LocalIssuer:
    return LocalIssuer()


def aws_ref(auth_method: str = "access_key", **config_overrides: Any) -> ReferencedCredentials:
    config, secrets_ = example("aws", auth_method)
    return ReferencedCredentials("aws", auth_method, {**config, **config_overrides}, secrets_, EXTERNAL_ID)


@pytest.fixture
def entra(issuer: LocalIssuer, settings, tmp_path) -> Iterator[FakeAzureAD]:
    """The fake Entra ID over TLS, trusting the local issuer; strict about the federated audience like Azure."""
    with FakeAzureAD(jwks_provider=issuer.jwks, accept_token_url_audience=False, tls_dir=tmp_path / "aad") as fake:
        endpoints = getattr(settings, "PROVIDER_ENDPOINTS", None) or {}
        settings.PROVIDER_ENDPOINTS = {**endpoints, "azure_authority": fake.authority}
        settings.AZURE_CA_BUNDLE = str(fake.ca_file)
        yield fake


def gcp_ref() -> ReferencedCredentials:
    config, secrets_ = example("gcp", "service_account_key")
    return ReferencedCredentials("gcp", "service_account_key", config, secrets_)


@pytest.fixture
def gcp_identity(fake_google: FakeGoogle) -> FakeGoogle:
    """The referenced GCP connection's key is known to Google."""
    fake_google.add_service_account_key(gcp_ref().secrets["service_account_key"])
    return fake_google
