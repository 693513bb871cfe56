"""Connection tests ("Test connection") of the cloud providers, against real protocol peers on loopback.

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

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from connections.providers import aws as aws_module
from connections.providers import get_provider
from connections.providers.aws import clients as aws_clients
from connections.providers.aws import identity as aws_identity
from connections.providers.contract import CheckContext, CheckFailed, CheckResult, ReferencedCredentials
from core.masking import mask, secret_values
from tests.connections.provider_examples import gcp_service_account_key_json, valid_examples
from tests.fakes import google as google_fakes
from tests.fakes import moto_server as moto_fakes
from tests.fakes.google import FakeGoogle
from tests.fakes.moto_server import MOTO_ACCOUNT_ID
from tests.identity.fake_azure import AZURE_AD_TOKEN_EXCHANGE, FakeAzureAD

# The fakes' fixtures, registered in this module by name (conftest.py files are shared, so they live in
# tests/fakes/); assignments rather than imports, so a parameter of the same name is not a redefinition.
moto_server = moto_fakes.moto_server
moto = moto_fakes.moto
fake_google_server = google_fakes.fake_google_server
fake_google = google_fakes.fake_google

ORG = "acme"
EXTERNAL_ID = "ext-7f3c2a91d4b8e6f0"
OTHER_ACCOUNT = "999999999999"
PROJECT = "my-project-123456"
SA_EMAIL = f"terraform@{PROJECT}.iam.gserviceaccount.com"
WIF_PROVIDER = "projects/123456789012/locations/global/workloadIdentityPools/platform-pool/providers/oidc"


# ----------------------------------------------------------------------------------------------- helpers


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
    real = aws_clients.client
    RECORDED_CALLS.clear()

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        RECORDED_CALLS.append((model.name, dict(params)))

    def recording_client(*args: Any, **kwargs: Any) -> Any:
        client = real(*args, **kwargs)
        if not getattr(client, "_recorded_by_test", False):
            client.meta.events.register("provide-client-params.*.*", record)
            client._recorded_by_test = True
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


# ------------------------------------------------------------------------------------------------- AWS


def test_aws_access_key_names_the_caller(moto):
    config, secrets_ = example("aws", "access_key")
    ctx = make_ctx("aws-keys")

    result = run_check("aws", "access_key", config, secrets_, ctx)

    assert result.message == f"Authenticated as arn:aws:sts::{MOTO_ACCOUNT_ID}:user/moto."
    assert result.details["account_id"] == MOTO_ACCOUNT_ID


def test_aws_access_key_in_another_account_fails(moto):
    config, secrets_ = example("aws", "access_key")
    config["account_id"] = "210987654321"

    failure = failed_check("aws", "access_key", config, secrets_, make_ctx("aws-keys"))

    assert failure.reason == (
        f"The credentials belong to account {MOTO_ACCOUNT_ID}, not the declared account 210987654321."
    )


def test_aws_assume_role_uses_the_external_id_and_platform_identity(moto):
    config, secrets_ = example("aws", "assume_role")
    role_arn = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/PlatformRunner"
    ctx = make_ctx("aws-prod", role_arn=role_arn)

    result = run_check("aws", "assume_role", config, secrets_, ctx)

    assert result.message.startswith(f"Assumed arn:aws:sts::{MOTO_ACCOUNT_ID}:assumed-role/PlatformRunner/")
    params = ctx.params_of("AssumeRole")
    assert params["RoleArn"] == role_arn
    assert params["ExternalId"] == EXTERNAL_ID
    assert params["RoleSessionName"] == "platform-check-acme-aws-prod"
    assert params["DurationSeconds"] == 900


def test_aws_assume_role_prefers_a_role_arn_in_config(moto):
    config, secrets_ = example("aws", "assume_role")
    config["role_arn"] = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/FromConfig"
    ctx = make_ctx("aws-prod", role_arn=f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/FromContext")

    run_check("aws", "assume_role", config, secrets_, ctx)

    assert ctx.params_of("AssumeRole")["RoleArn"].endswith(":role/FromConfig")


def test_aws_assume_role_without_a_role_asks_for_one(moto):
    config, secrets_ = example("aws", "assume_role")

    failure = failed_check("aws", "assume_role", config, secrets_, make_ctx("aws-prod"))

    assert failure.reason == "Add a connection role (an IAM role ARN) before testing an assume-role connection."


def test_aws_assume_role_in_another_account_fails_before_calling_sts(moto):
    config, secrets_ = example("aws", "assume_role")
    ctx = make_ctx("aws-prod", role_arn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/Runner")

    failure = failed_check("aws", "assume_role", config, secrets_, ctx)

    assert failure.reason == f"The role belongs to account {OTHER_ACCOUNT}, not the declared account {MOTO_ACCOUNT_ID}."
    assert ctx.calls == []


def test_aws_web_identity_exchanges_a_platform_assertion(moto, issuer):
    config, secrets_ = example("aws", "web_identity")
    ctx = make_ctx("aws-oidc", issuer=issuer)

    result = run_check("aws", "web_identity", config, secrets_, ctx)

    assert result.message.startswith(f"Assumed arn:aws:sts::{MOTO_ACCOUNT_ID}:assumed-role/Tf/")
    assert issuer.signed == [("sts.amazonaws.com", "org:acme:connection:aws-oidc")]
    params = ctx.params_of("AssumeRoleWithWebIdentity")
    assert params["RoleArn"] == config["role_arn"]
    assert_clean(result, {"token": params["WebIdentityToken"]})


def test_aws_web_identity_without_an_issuer_fails(moto):
    config, secrets_ = example("aws", "web_identity")

    failure = failed_check("aws", "web_identity", config, secrets_, make_ctx("aws-oidc"))

    assert "OIDC issuer is not configured" in failure.reason


def test_trust_policy_requires_the_external_id():
    policy = aws_module.trust_policy("111122223333", EXTERNAL_ID)

    (statement,) = policy["Statement"]
    assert policy["Version"] == "2012-10-17"
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}


def test_platform_account_id_configured_else_from_sts(moto, monkeypatch, settings):
    monkeypatch.setattr(aws_identity, "_from_sts", None)
    settings.PLATFORM_AWS_ACCOUNT_ID = "111122223333"
    assert aws_module.platform_account_id() == "111122223333"

    settings.PLATFORM_AWS_ACCOUNT_ID = ""
    assert aws_module.platform_account_id() == MOTO_ACCOUNT_ID
    assert aws_identity._from_sts == MOTO_ACCOUNT_ID  # cached for the process


def test_aws_assume_role_access_denied_attaches_the_trust_policy(moto, settings):
    """moto enforces trust policies only in its IAM-auth mode, so the AccessDenied comes from a stubbed STS."""
    from botocore.stub import Stubber

    config, secrets_ = example("aws", "assume_role")
    role_arn = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/PlatformRunner"
    ctx = make_ctx("aws-prod", role_arn=role_arn)
    settings.PLATFORM_AWS_ACCOUNT_ID = "111122223333"
    sts = aws_clients.client("sts", region=config["region"], timeout=ctx.timeout)
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "AccessDenied", "Not authorized to perform sts:AssumeRole", 403)
        failure = failed_check("aws", "assume_role", config, secrets_, ctx)

    assert failure.reason.startswith("AccessDenied: Not authorized to perform sts:AssumeRole Check that the trust")
    assert failure.details["trust_policy"] == aws_module.trust_policy("111122223333", EXTERNAL_ID)


# ------------------------------------------------------------------------------------------- ECR and S3


def aws_ref(auth_method: str = "access_key", **config_overrides: Any) -> ReferencedCredentials:
    config, secrets_ = example("aws", auth_method)
    return ReferencedCredentials("aws", auth_method, {**config, **config_overrides}, secrets_, EXTERNAL_ID)


def test_ecr_gets_an_authorization_token(moto):
    config, secrets_ = example("ecr", "cloud_connection")
    ctx = make_ctx("ecr-prod", ref=aws_ref())

    result = run_check("ecr", "cloud_connection", config, secrets_, ctx)

    assert result.message == f"Registry login works for https://{MOTO_ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com."
    assert "authorizationToken" not in json.dumps(result.details)


def test_ecr_with_an_assume_role_connection_assumes_its_role_first(moto):
    config, secrets_ = example("ecr", "cloud_connection")
    role_arn = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Registry"
    ctx = make_ctx("ecr-prod", ref=aws_ref("assume_role", role_arn=role_arn))

    run_check("ecr", "cloud_connection", config, secrets_, ctx)

    assert ctx.params_of("AssumeRole")["ExternalId"] == EXTERNAL_ID
    assert ctx.params_of("AssumeRole")["RoleArn"] == role_arn


def test_ecr_with_a_connection_in_another_account_fails(moto):
    config, secrets_ = example("ecr", "cloud_connection")
    ctx = make_ctx("ecr-prod", ref=aws_ref(account_id="210987654321"))

    failure = failed_check("ecr", "cloud_connection", config, secrets_, ctx)

    assert "not the declared account 210987654321" in failure.reason


def _create_bucket(name: str, region: str) -> Any:
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    return s3


def test_s3_backend_bucket_reachable_and_prefix_writable(moto):
    config, secrets_ = example("s3_backend", "cloud_connection")
    s3 = _create_bucket(config["bucket"], config["region"])
    ctx = make_ctx("tf-state", ref=aws_ref())

    result = run_check("s3_backend", "cloud_connection", config, secrets_, ctx)

    assert result.message == "Bucket reachable and s3://acme-terraform-state/platform writable."
    written = ctx.params_of("PutObject")["Key"]
    assert written.startswith("platform/.platform-write-check-")
    assert ctx.params_of("DeleteObject")["Key"] == written
    assert s3.list_objects_v2(Bucket=config["bucket"]).get("KeyCount") == 0


def test_s3_backend_missing_bucket_fails(moto):
    config, secrets_ = example("s3_backend", "cloud_connection")

    failure = failed_check("s3_backend", "cloud_connection", config, secrets_, make_ctx("tf-state", ref=aws_ref()))

    assert failure.reason == "The bucket acme-terraform-state does not exist."


# ----------------------------------------------------------------------------------------------- Azure


@pytest.fixture
def entra(issuer: LocalIssuer, settings, tmp_path) -> Iterator[FakeAzureAD]:
    """The fake Entra ID over TLS, trusting the local issuer; strict about the federated audience like Azure."""
    with FakeAzureAD(jwks_provider=issuer.jwks, accept_token_url_audience=False, tls_dir=tmp_path / "aad") as fake:
        endpoints = getattr(settings, "PROVIDER_ENDPOINTS", None) or {}
        settings.PROVIDER_ENDPOINTS = {**endpoints, "azure_authority": fake.authority}
        settings.AZURE_CA_BUNDLE = str(fake.ca_file)
        yield fake


def test_azure_client_secret_gets_a_management_token(entra):
    config, secrets_ = example("azure", "client_secret")
    entra.add_client_secret(
        tenant_id=config["tenant_id"], client_id=config["client_id"], secret=secrets_["client_secret"]
    )

    result = run_check("azure", "client_secret", config, secrets_, make_ctx("azure-prod"))

    assert (
        result.message == f"Service principal {config['client_id']} obtained a token in tenant {config['tenant_id']}."
    )
    (request,) = entra.token_requests
    assert request.form["scope"] == "https://management.azure.com/.default"


def test_azure_wrong_client_secret_reports_entra_reason(entra):
    config, secrets_ = example("azure", "client_secret")
    entra.add_client_secret(
        tenant_id=config["tenant_id"], client_id=config["client_id"], secret="the-real-secret~value"
    )

    failure = failed_check("azure", "client_secret", config, secrets_, make_ctx("azure-prod"))

    assert failure.reason.startswith("AADSTS7000215: Invalid client secret provided.")
    assert "Trace ID" not in failure.reason


def test_azure_federated_presents_a_platform_assertion(entra, issuer):
    config, secrets_ = example("azure", "federated")
    entra.add_federated_credential(
        tenant_id=config["tenant_id"], client_id=config["client_id"], issuer=issuer.url, subject=subject_for("az-fed")
    )

    result = run_check("azure", "federated", config, secrets_, make_ctx("az-fed", issuer=issuer))

    assert config["client_id"] in result.message
    assert issuer.signed == [(AZURE_AD_TOKEN_EXCHANGE, "org:acme:connection:az-fed")]
    assert entra.issued_tokens[0].subject == "org:acme:connection:az-fed"


def test_azure_federated_with_another_subject_fails(entra, issuer):
    config, secrets_ = example("azure", "federated")
    entra.add_federated_credential(
        tenant_id=config["tenant_id"], client_id=config["client_id"], issuer=issuer.url, subject=subject_for("other")
    )

    failure = failed_check("azure", "federated", config, secrets_, make_ctx("az-fed", issuer=issuer))

    assert failure.reason.startswith(
        "AADSTS700213: No matching federated identity record found for presented assertion subject "
        "'org:acme:connection:az-fed'."
    )


def test_azure_unknown_tenant_is_named(entra):
    config, secrets_ = example("azure", "client_secret")

    failure = failed_check("azure", "client_secret", config, secrets_, make_ctx("azure-prod"))

    assert failure.reason == f"Microsoft Entra ID has no tenant {config['tenant_id']}; check the tenant ID."


# ------------------------------------------------------------------------------------------------- GCP


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


# ------------------------------------------------------------------------------------------ GCR and GCS


def gcp_ref() -> ReferencedCredentials:
    config, secrets_ = example("gcp", "service_account_key")
    return ReferencedCredentials("gcp", "service_account_key", config, secrets_)


@pytest.fixture
def gcp_identity(fake_google: FakeGoogle) -> FakeGoogle:
    """The referenced GCP connection's key is known to Google."""
    fake_google.add_service_account_key(gcp_ref().secrets["service_account_key"])
    return fake_google


def test_gcr_registry_login_with_the_gcp_token(gcp_identity):
    gcp_identity.add_project(PROJECT, members=[SA_EMAIL])
    config, secrets_ = example("gcr", "cloud_connection")

    result = run_check("gcr", "cloud_connection", config, secrets_, make_ctx("registry", ref=gcp_ref()))

    assert result.message == "Registry login to europe-west1-docker.pkg.dev works."
    login = gcp_identity.requests[-1]
    assert login.path == "/gcr/v2/token"
    assert login.query == {
        "service": "europe-west1-docker.pkg.dev",
        "scope": f"repository:{PROJECT}/platform-check:pull",
    }
    assert login.headers["Authorization"].startswith("Basic ")


def test_gcr_without_access_to_the_project_fails(gcp_identity):
    config, secrets_ = example("gcr", "cloud_connection")

    failure = failed_check("gcr", "cloud_connection", config, secrets_, make_ctx("registry", ref=gcp_ref()))

    assert failure.reason.startswith("europe-west1-docker.pkg.dev refused the GCP connection's credentials: DENIED:")


def test_gcs_backend_bucket_reachable_and_prefix_writable(gcp_identity):
    config, secrets_ = example("gcs_backend", "cloud_connection")
    gcp_identity.add_bucket(config["bucket"], writers=[SA_EMAIL])

    result = run_check("gcs_backend", "cloud_connection", config, secrets_, make_ctx("gcs-state", ref=gcp_ref()))

    assert result.message == "Bucket reachable and gs://acme-terraform-state/platform writable."
    upload, delete = gcp_identity.requests[-2:]
    assert upload.method == "POST" and upload.query["uploadType"] == "media"
    assert upload.query["name"].startswith("platform/.platform-write-check-")
    assert delete.method == "DELETE" and delete.path.endswith(f"/o/{upload.query['name']}")
    assert gcp_identity.objects(config["bucket"]) == {}


def test_gcs_backend_missing_bucket_fails(gcp_identity):
    config, secrets_ = example("gcs_backend", "cloud_connection")

    failure = failed_check("gcs_backend", "cloud_connection", config, secrets_, make_ctx("gcs-state", ref=gcp_ref()))

    assert failure.reason == "The bucket acme-terraform-state does not exist."


def test_gcs_backend_read_only_bucket_fails_on_write(gcp_identity):
    config, secrets_ = example("gcs_backend", "cloud_connection")
    gcp_identity.add_bucket(config["bucket"], readers=[SA_EMAIL])

    failure = failed_check("gcs_backend", "cloud_connection", config, secrets_, make_ctx("gcs-state", ref=gcp_ref()))

    assert failure.reason.startswith("Cannot write gs://acme-terraform-state/platform/.platform-write-check-")
    assert "does not have storage.objects.create access" in failure.reason
