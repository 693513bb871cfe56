"""Credentials handed to a run (connections/run_credentials.py and each provider's `run_setup`), read by
the real clients a run uses: botocore's default chain and the AWS CLI in a child process that gets
ONLY the run's environment, Terraform 1.11 with the hashicorp/aws provider, google-auth and
azure-identity; against moto in server mode, tests/fakes/google.py and the fake Entra ID over TLS.

Lifetimes are shortened through the settings so "a run longer than its credentials" takes seconds.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import google.auth
import jwt
import pytest
import requests
from azure.identity import WorkloadIdentityCredential
from google.auth.transport.requests import Request

from accounts.models import AuditEvent
from connections.models import ConnectionUsage
from connections.providers.aws import clients as aws_clients
from connections.role_validation import do_add_role
from connections.run_credentials import run_credentials
from connections.runtime import ConnectionNotAuthorized
from core.masking import secret_values
from identity import conf as oidc_conf
from identity.keys import jwks
from tests.connections.provider_examples import valid_examples
from tests.connections.providers.checks_cloud import PROJECT, SA_EMAIL, WIF_PROVIDER
from tests.fakes import moto_server as moto_fakes
from tests.fakes.google import fake_google, fake_google_server  # noqa: F401
from tests.fakes.moto_server import MOTO_ACCOUNT_ID
from tests.identity.fake_azure import FakeAzureAD

pytestmark = pytest.mark.django_db

moto_server = moto_fakes.moto_server
moto = moto_fakes.moto

ROLE_ARN = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/TerraformRunner"
# The platform's own credentials in the worker's environment: they must never reach a run.
WORKER_CANARY = "WORKERcanary/SecretKey+0123456789abcdefABCD"
TERRAFORM = shutil.which("terraform") or "/usr/local/bin/terraform"
AWS_CLI = shutil.which("aws")


@pytest.fixture(autouse=True)
def _small_keys(settings):
    settings.OIDC_KEY_SIZE = 2048


@pytest.fixture
def worker_canary(moto, monkeypatch) -> str:
    """The worker's own AWS secret (what AssumeRole is called with) is a canary value."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WORKER_CANARY)
    monkeypatch.setenv("PLATFORM_CANARY", WORKER_CANARY)
    aws_clients.clear()
    return WORKER_CANARY


def child_env(run_env: dict[str, str], **extra: str) -> dict[str, str]:
    """What a run's process gets: the run's credentials, the test's endpoints, PATH/HOME; nothing else."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent", **run_env, **extra}


def run_python(code: str, env: dict[str, str], timeout: float = 60) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


CALLER_IDENTITY = """
import json, os, boto3
sts = boto3.client("sts", endpoint_url=os.environ["TEST_ENDPOINT"])
identity = sts.get_caller_identity()
print(json.dumps({"arn": identity["Arn"], "account": identity["Account"]}))
"""


def aws_connection(make_connection, org, auth_method: str, **config: Any):
    return make_connection(
        org,
        "aws",
        name=f"aws-{auth_method.replace('_', '-')}",
        auth_method=auth_method,
        environments=("production",),
        config={"account_id": MOTO_ACCOUNT_ID, **config},
    )


def assume_role_params(monkeypatch) -> list[dict[str, Any]]:
    """Parameters of every AssumeRole the platform makes (boto3 event hook on the clients it builds)."""
    calls: list[dict[str, Any]] = []
    real = aws_clients.session_client

    def recording(*args: Any, **kwargs: Any) -> Any:
        client = real(*args, **kwargs)
        client.meta.events.register(
            "provide-client-params.sts.AssumeRole", lambda params, **_: calls.append(dict(params))
        )
        return client

    monkeypatch.setattr(aws_clients, "session_client", recording)
    return calls


# --- AWS assume_role: the loopback credentials endpoint ---------------------------------------------


def test_assume_role_reaches_botocore_through_the_loopback_endpoint(
    org, members, make_connection, worker_canary, moto, monkeypatch, tmp_path
):
    connection = aws_connection(make_connection, org, "assume_role")
    calls = assume_role_params(monkeypatch)

    with run_credentials(
        connection, actor=members["user"], environment="production", run_label="42@network core", workdir=tmp_path,
        role_arn=ROLE_ARN, session_duration=1800,
    ) as creds:  # fmt: skip
        env = creds.env
        assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
        assert "AWS_SECRET_ACCESS_KEY" not in env and "AWS_ACCESS_KEY_ID" not in env
        assert env["AWS_EC2_METADATA_DISABLED"] == "true"
        assert worker_canary not in json.dumps(env) and "PLATFORM_CANARY" not in env
        identity = run_python(CALLER_IDENTITY, child_env(env, TEST_ENDPOINT=moto))
        # Without the authorization token the endpoint answers nothing.
        assert requests.get(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], timeout=5).status_code == 403
        url = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
        served = requests.get(url, headers={"Authorization": env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}, timeout=5)
        document = served.json()
        assert set(document) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
        assert document["SecretAccessKey"] in creds.sensitive and document["Token"] in creds.sensitive

    assert identity == {"arn": f"arn:aws:sts::{MOTO_ACCOUNT_ID}:assumed-role/TerraformRunner/run-42@network-core",
                        "account": MOTO_ACCOUNT_ID}  # fmt: skip
    assert calls[0] == {
        "RoleArn": ROLE_ARN,
        "RoleSessionName": "run-42@network-core",
        "ExternalId": connection.external_id,
        "DurationSeconds": 1800,
    }
    # After the run: endpoint gone, files gone.
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    assert not creds.directory.exists()
    usage = ConnectionUsage.objects.get(connection=connection)
    assert (usage.purpose, usage.resource, usage.outcome) == ("run", "42@network core", "success")
    assert AuditEvent.objects.filter(action="connection.credentials_used", environment="production").count() == 1


def test_assume_role_without_any_role_is_a_recorded_failure(org, members, make_connection, moto, tmp_path):
    connection = aws_connection(make_connection, org, "assume_role")
    with pytest.raises(Exception, match="no role to assume"):
        with run_credentials(connection, actor=members["user"], environment="production", run_label="1",
                             workdir=tmp_path):  # fmt: skip
            pass
    usage = ConnectionUsage.objects.get(connection=connection)
    assert usage.outcome == "failure" and "no role to assume" in usage.error
    assert list(tmp_path.iterdir()) == []


def test_run_longer_than_the_session_still_has_valid_credentials(
    org, members, make_connection, worker_canary, moto, monkeypatch, settings, tmp_path
):
    """A 900 s session with a 898 s refresh margin is renewed after 2 s: the run outlives two sessions."""
    settings.RUN_CREDENTIALS_REFRESH_MARGIN_SECONDS = 898
    connection = aws_connection(make_connection, org, "assume_role")
    calls = assume_role_params(monkeypatch)
    script = """
    import json, os, time, boto3
    from datetime import datetime, timezone
    session = boto3.session.Session()
    sts = session.client("sts", endpoint_url=os.environ["TEST_ENDPOINT"])
    seen = []
    for _ in range(3):
        arn = sts.get_caller_identity()["Arn"]
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials()
        left = (credentials._expiry_time - datetime.now(timezone.utc)).total_seconds()
        seen.append({"arn": arn, "key": frozen.access_key, "left": left})
        time.sleep(2.5)
    print(json.dumps({"seen": seen}))
    """
    with run_credentials(connection, actor=members["user"], environment="production", run_label="long",
                         workdir=tmp_path, role_arn=ROLE_ARN, session_duration=900) as creds:  # fmt: skip
        seen = run_python(script, child_env(creds.env, TEST_ENDPOINT=moto))["seen"]

    assert all(entry["arn"].endswith("assumed-role/TerraformRunner/run-long") for entry in seen)
    assert len({entry["key"] for entry in seen}) == 3, "each call after a renewal used a new session"
    assert all(entry["left"] > 800 for entry in seen), "the credentials in use at the end were still valid"
    assert len(calls) >= 3


@pytest.mark.skipif(not AWS_CLI, reason="the AWS CLI is not installed")
def test_the_aws_cli_reads_the_loopback_endpoint(org, members, make_connection, worker_canary, moto, tmp_path):
    connection = aws_connection(make_connection, org, "assume_role")
    with run_credentials(connection, actor=members["user"], environment="production", run_label="cli",
                         workdir=tmp_path, role_arn=ROLE_ARN) as creds:  # fmt: skip
        done = subprocess.run(
            [AWS_CLI, "sts", "get-caller-identity", "--output", "json"],
            env=child_env(creds.env, AWS_ENDPOINT_URL=moto, PYENV_VERSION=os.environ.get("PYENV_VERSION", "")),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["Arn"].endswith("assumed-role/TerraformRunner/run-cli")


# --- AWS web_identity: a refreshed token file -------------------------------------------------------


def decode(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_web_identity_token_file_is_read_by_botocore_and_rewritten(
    org, members, make_connection, worker_canary, moto, settings, tmp_path
):
    settings.RUN_TOKEN_LIFETIME_SECONDS = 3
    settings.RUN_CREDENTIALS_REFRESH_MARGIN_SECONDS = 1
    connection = aws_connection(make_connection, org, "web_identity", role_arn=ROLE_ARN)
    with run_credentials(connection, actor=members["user"], environment="production", run_label="7@app",
                         workdir=tmp_path) as creds:  # fmt: skip
        env = creds.env
        token_file = Path(env["AWS_WEB_IDENTITY_TOKEN_FILE"])
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert (env["AWS_ROLE_ARN"], env["AWS_ROLE_SESSION_NAME"]) == (ROLE_ARN, "run-7@app")
        first = token_file.read_text()
        claims = decode(first)
        assert claims["aud"] == "sts.amazonaws.com"
        assert claims["sub"] == f"org:{org.slug}:connection:{connection.name}" and claims["run"] == "7@app"
        assert claims["iss"] == oidc_conf.issuer_url() and claims["exp"] - claims["iat"] == 3
        identity = run_python(CALLER_IDENTITY, child_env(env, TEST_ENDPOINT=moto, AWS_ENDPOINT_URL_STS=moto))
        time.sleep(4.5)  # longer than the token lives
        later = token_file.read_text()
        assert later != first and decode(later)["exp"] > time.time()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert later in creds.sensitive
        identity_later = run_python(CALLER_IDENTITY, child_env(env, TEST_ENDPOINT=moto, AWS_ENDPOINT_URL_STS=moto))
    assert identity["arn"].endswith("assumed-role/TerraformRunner/run-7@app") and identity_later == identity
    assert not token_file.exists()


# --- Terraform ---------------------------------------------------------------------------------------

TF_MAIN = """
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}
provider "aws" {}
data "aws_caller_identity" "me" {}
output "arn" {
  value = data.aws_caller_identity.me.arn
}
"""
TF_CLI_CONFIG = """
provider_installation {
  filesystem_mirror {
    path    = "/opt/tf-plugins"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
disable_checkpoint = true
"""


def terraform_apply(workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    (workdir / "main.tf").write_text(TF_MAIN)
    (workdir / "cli.tfrc").write_text(TF_CLI_CONFIG)
    full = {**env, "TF_CLI_CONFIG_FILE": str(workdir / "cli.tfrc"), "TF_IN_AUTOMATION": "1", "HOME": str(workdir)}
    for args in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
        done = subprocess.run([TERRAFORM, *args], cwd=workdir, env=full, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    out = subprocess.run([TERRAFORM, "output", "-json"], cwd=workdir, env=full, capture_output=True, text=True)
    return json.loads(out.stdout)


def require_terraform() -> None:
    if not (os.path.exists(TERRAFORM) and os.path.isdir("/opt/tf-plugins")):
        print("\n!!! TERRAFORM IS NOT INSTALLED HERE: the real-Terraform run-credential tests are SKIPPED !!!\n")
        pytest.skip("terraform or the /opt/tf-plugins mirror is missing (see TESTING.md)")


@pytest.mark.parametrize("auth_method", ["assume_role", "web_identity"])
def test_terraform_reads_the_run_credentials(auth_method, org, members, make_connection, worker_canary, moto, tmp_path):
    require_terraform()
    extra = {"role_arn": ROLE_ARN} if auth_method == "web_identity" else {}
    connection = aws_connection(make_connection, org, auth_method, **extra)
    workdir = tmp_path / "project"
    with run_credentials(connection, actor=members["user"], environment="production", run_label="tf-1",
                         workdir=workdir, role_arn=ROLE_ARN) as creds:  # fmt: skip
        outputs = terraform_apply(workdir, child_env(creds.env, AWS_ENDPOINT_URL=moto, AWS_ENDPOINT_URL_STS=moto))
    assert outputs["arn"]["value"] == f"arn:aws:sts::{MOTO_ACCOUNT_ID}:assumed-role/TerraformRunner/run-tf-1"
    state = (workdir / "terraform.tfstate").read_text()
    assert worker_canary not in state
    assert not creds.directory.exists()


# --- Access keys and other stored credentials keep working through the same API --------------------


def test_access_keys_reach_botocore_and_nothing_of_the_worker(
    org, members, make_connection, worker_canary, moto, tmp_path, caplog
):
    connection = make_connection(org, "aws", name="aws-keys", environments=("production",))
    secret = valid_examples()["aws"]["access_key"][1]["secret_access_key"]
    caplog.set_level(logging.DEBUG)
    with run_credentials(connection, actor=members["user"], environment="production", run_label="k",
                         workdir=tmp_path) as creds:  # fmt: skip
        assert creds.env["AWS_SECRET_ACCESS_KEY"] == secret and secret in creds.sensitive
        assert worker_canary not in creds.env.values()
        identity = run_python(CALLER_IDENTITY, child_env(creds.env, TEST_ENDPOINT=moto))
        logging.getLogger("connections").warning("run output: %s", secret)
    assert identity["account"] == MOTO_ACCOUNT_ID
    assert secret not in caplog.text and worker_canary not in caplog.text


def test_kubeconfig_is_written_private_and_removed(org, members, make_connection, tmp_path):
    connection = make_connection(org, "kubernetes", name="k8s", environments=("production",))
    with run_credentials(connection, actor=members["user"], environment="production", run_label="k8s",
                         workdir=tmp_path) as creds:  # fmt: skip
        path = Path(creds.env["KUBECONFIG"])
        assert path in creds.files and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(creds.directory.stat().st_mode) == 0o700
    assert not path.exists()


def test_an_unauthorized_environment_gets_nothing(org, members, make_connection, moto, tmp_path):
    connection = aws_connection(make_connection, org, "assume_role")
    with pytest.raises(ConnectionNotAuthorized) as exc:
        with run_credentials(connection, actor=members["user"], environment="staging", run_label="x",
                             workdir=tmp_path, role_arn=ROLE_ARN):  # fmt: skip
            pass
    assert str(exc.value) == f"Connection '{connection.name}' is not authorized for environment 'staging'"
    assert not ConnectionUsage.objects.filter(connection=connection).exists()


# --- Registries: a docker config.json --------------------------------------------------------------


def test_ecr_gets_a_docker_config_from_get_authorization_token(org, members, make_connection, moto, tmp_path):
    make_connection(org, "aws", name="aws-production", config={"account_id": MOTO_ACCOUNT_ID})
    ecr = make_connection(org, "ecr", name="ecr", environments=("production",))
    with run_credentials(ecr, actor=members["user"], environment="production", run_label="img",
                         workdir=tmp_path) as creds:  # fmt: skip
        config = json.loads((Path(creds.env["DOCKER_CONFIG"]) / "config.json").read_text())
        registry = f"{MOTO_ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com"
        assert creds.env["ECR_REGISTRY"] == registry
        auth = config["auths"][registry]["auth"]
        user, _, password = base64.b64decode(auth).decode().partition(":")
        assert user == "AWS" and password and auth in creds.sensitive and password in creds.sensitive
        assert creds.env["AWS_ACCESS_KEY_ID"]  # the AWS connection's own credentials are beside it


def test_gcr_gets_a_docker_config_with_a_google_access_token(org, members, make_connection, fake_google, tmp_path):
    gcp = make_connection(org, "gcp", name="gcp-production")
    fake_google.add_service_account_key(valid_examples()["gcp"]["service_account_key"][1]["service_account_key"])
    fake_google.add_project(PROJECT, members=[SA_EMAIL])
    gcr = make_connection(org, "gcr", name="gcr", environments=("production",))
    assert gcp.auth_method == "service_account_key"
    with run_credentials(gcr, actor=members["user"], environment="production", run_label="img",
                         workdir=tmp_path) as creds:  # fmt: skip
        config = json.loads((Path(creds.env["DOCKER_CONFIG"]) / "config.json").read_text())
        auth = config["auths"]["europe-west1-docker.pkg.dev"]["auth"]
        user, _, token = base64.b64decode(auth).decode().partition(":")
        assert user == "oauth2accesstoken" and token in creds.sensitive
        # The registry's token service accepts it, as it would for `docker login`.
        params = {"service": "europe-west1-docker.pkg.dev", "scope": f"repository:{PROJECT}/app:pull"}
        answer = requests.get(fake_google.endpoints["gcr_token"], params=params,
                              headers={"Authorization": f"Basic {auth}"}, timeout=5)  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert Path(creds.env["GOOGLE_APPLICATION_CREDENTIALS"]).exists()


# --- GCP workload identity federation ---------------------------------------------------------------


def test_gcp_external_account_file_is_exchanged_by_google_auth(
    org, members, make_connection, fake_google, settings, tmp_path
):
    settings.RUN_TOKEN_LIFETIME_SECONDS = 3
    settings.RUN_CREDENTIALS_REFRESH_MARGIN_SECONDS = 1
    connection = make_connection(org, "gcp", name="gcp-wif", auth_method="workload_identity",
                                 environments=("production",))  # fmt: skip
    published = jwks()
    fake_google.add_workload_identity_provider(
        WIF_PROVIDER, issuer=oidc_conf.issuer_url(), jwks_provider=lambda: published
    )
    fake_google.allow_impersonation(SA_EMAIL, provider=WIF_PROVIDER, subject=f"org:{org.slug}:connection:gcp-wif")
    with run_credentials(connection, actor=members["user"], environment="production", run_label="g",
                         workdir=tmp_path) as creds:  # fmt: skip
        path = creds.env["GOOGLE_APPLICATION_CREDENTIALS"]
        info = json.loads(Path(path).read_text())
        assert info["type"] == "external_account" and info["subject_token_type"].endswith(":jwt")
        token_file = Path(info["credential_source"]["file"])
        assert token_file.parent == creds.directory and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        first = token_file.read_text()
        credentials, _project = google.auth.load_credentials_from_file(path)
        credentials = credentials.with_scopes(["https://www.googleapis.com/auth/cloud-platform"])
        credentials.refresh(Request())
        assert credentials.token.startswith("ya29.fake-")
        time.sleep(4.5)
        assert token_file.read_text() != first
        again, _ = google.auth.load_credentials_from_file(path)
        again = again.with_scopes(["https://www.googleapis.com/auth/cloud-platform"])
        again.refresh(Request())  # the rewritten token is exchanged too
    exchanges = [r for r in fake_google.requests if r.path == "/sts/v1/token"]
    assert len(exchanges) == 2
    assert decode(token_file.name and first)["aud"] == f"//iam.googleapis.com/{WIF_PROVIDER}"


# --- Azure federated ---------------------------------------------------------------------------------


def test_azure_federated_token_file_is_read_by_azure_identity(org, members, make_connection, settings, tmp_path):
    settings.RUN_TOKEN_LIFETIME_SECONDS = 3
    settings.RUN_CREDENTIALS_REFRESH_MARGIN_SECONDS = 1
    connection = make_connection(org, "azure", name="az-fed", auth_method="federated", environments=("production",))
    published = jwks()
    with FakeAzureAD(jwks_provider=lambda: published, accept_token_url_audience=False, tls_dir=tmp_path / "aad") as aad:
        settings.PROVIDER_ENDPOINTS = {**settings.PROVIDER_ENDPOINTS, "azure_authority": aad.authority}
        config = connection.config
        subject = f"org:{org.slug}:connection:az-fed"
        aad.add_federated_credential(
            tenant_id=config["tenant_id"], client_id=config["client_id"], issuer=oidc_conf.issuer_url(), subject=subject
        )
        with run_credentials(connection, actor=members["user"], environment="production", run_label="a",
                             workdir=tmp_path / "run") as creds:  # fmt: skip
            env = creds.env
            assert env["ARM_USE_OIDC"] == "true"
            assert env["ARM_OIDC_TOKEN_FILE_PATH"] == env["AZURE_FEDERATED_TOKEN_FILE"]
            assert env["ARM_SUBSCRIPTION_ID"] == config["subscription_id"]
            assert (env["ARM_CLIENT_ID"], env["AZURE_CLIENT_ID"]) == (config["client_id"], config["client_id"])
            assert (env["ARM_TENANT_ID"], env["AZURE_TENANT_ID"]) == (config["tenant_id"], config["tenant_id"])
            assert "ARM_OIDC_TOKEN" not in env  # a token in a variable could not be refreshed
            token_file = Path(env["AZURE_FEDERATED_TOKEN_FILE"])
            first = token_file.read_text()
            assert decode(first)["aud"] == "api://AzureADTokenExchange"

            def credential() -> WorkloadIdentityCredential:
                return WorkloadIdentityCredential(
                    tenant_id=env["AZURE_TENANT_ID"], client_id=env["AZURE_CLIENT_ID"],
                    token_file_path=env["AZURE_FEDERATED_TOKEN_FILE"], authority=env["AZURE_AUTHORITY_HOST"],
                    disable_instance_discovery=True, connection_verify=str(aad.ca_file),
                )  # fmt: skip

            assert credential().get_token("https://management.azure.com/.default").token
            time.sleep(4.5)
            later = token_file.read_text()
            assert later != first
            assert credential().get_token("https://management.azure.com/.default").token
        presented = [r.form.get("client_assertion") for r in aad.token_requests]
        assert presented == [first, later]


def test_no_run_credential_reaches_the_logs(org, members, make_connection, worker_canary, moto, tmp_path, caplog):
    """botocore at DEBUG logs STS responses: the session obtained for the run, the endpoint's token, the
    web identity token and the worker's own secret are all masked there."""
    caplog.set_level(logging.DEBUG)
    connection = aws_connection(make_connection, org, "assume_role")
    with run_credentials(connection, actor=members["user"], environment="production", run_label="log",
                         workdir=tmp_path, role_arn=ROLE_ARN) as creds:  # fmt: skip
        env = creds.env
        headers = {"Authorization": env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}
        served = requests.get(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], headers=headers, timeout=5).json()
        logging.getLogger("projects.run").info("run env: %s served: %s", env, served)
        sensitive = list(creds.sensitive)
    assert served["SecretAccessKey"] in sensitive and env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] in sensitive
    for value in [*sensitive, worker_canary]:
        assert value not in caplog.text


def test_assume_role_falls_back_to_the_connections_first_role(
    org, members, make_connection, moto, monkeypatch, tmp_path
):
    connection = aws_connection(make_connection, org, "assume_role")
    do_add_role(connection, actor=members["admin"], role_arn=f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/FirstRole")
    calls = assume_role_params(monkeypatch)
    with run_credentials(connection, actor=members["user"], environment="production", run_label="r",
                         workdir=tmp_path):  # fmt: skip
        pass
    assert calls[0]["RoleArn"] == f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/FirstRole"
    assert calls[0]["DurationSeconds"] == 3600  # RUN_SESSION_DURATION_SECONDS


def test_ecr_and_the_s3_backend_borrow_an_assumed_role(org, members, make_connection, moto, monkeypatch, tmp_path):
    """A registry or state backend on an assume-role AWS connection: the ECR login is made with the run's
    session, and the run itself reads the same loopback endpoint."""
    aws = make_connection(org, "aws", name="aws-production", auth_method="assume_role",
                          config={"account_id": MOTO_ACCOUNT_ID})  # fmt: skip
    do_add_role(aws, actor=members["admin"], role_arn=ROLE_ARN)
    calls = assume_role_params(monkeypatch)
    ecr = make_connection(org, "ecr", name="ecr", environments=("production",))
    with run_credentials(ecr, actor=members["user"], environment="production", run_label="img",
                         workdir=tmp_path / "ecr") as creds:  # fmt: skip
        assert (Path(creds.env["DOCKER_CONFIG"]) / "config.json").exists()
        identity = run_python(CALLER_IDENTITY, child_env(creds.env, TEST_ENDPOINT=moto))
    assert identity["arn"].endswith("assumed-role/TerraformRunner/run-img")
    assert calls[0]["ExternalId"] == aws.external_id
    backend = make_connection(org, "s3_backend", name="state", environments=("production",))
    with run_credentials(backend, actor=members["user"], environment="production", run_label="state",
                         workdir=tmp_path / "s3") as creds:  # fmt: skip
        assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in creds.env
        identity = run_python(CALLER_IDENTITY, child_env(creds.env, TEST_ENDPOINT=moto))
    assert identity["arn"].endswith("assumed-role/TerraformRunner/run-state")


def _every_method() -> list[tuple[str, str]]:
    # ECR/GCR log in to a registry and assume_role calls STS: they have tests of their own above.
    skip = {("ecr", "cloud_connection"), ("gcr", "cloud_connection"), ("aws", "assume_role")}
    return [(p, m) for p, methods in valid_examples().items() for m in methods if (p, m) not in skip]


@pytest.mark.parametrize(("provider", "auth_method"), _every_method())
def test_every_other_method_goes_through_the_same_api(provider, auth_method, org, members, make_connection, tmp_path):
    connection = make_connection(org, provider, auth_method=auth_method, environments=("production",))
    secrets_ = valid_examples()[provider][auth_method][1]
    with run_credentials(connection, actor=members["user"], environment="production", run_label="all",
                         workdir=tmp_path) as creds:  # fmt: skip
        for path in creds.files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.parent.is_relative_to(creds.directory)
        assert not any("{file:" in value or "{dir:" in value for value in creds.env.values())
        shown = json.dumps(creds.env)
        for value in masking_values(secrets_):
            if value in shown:
                assert value in creds.sensitive, f"{provider}/{auth_method}: an unmasked secret in the run's env"
    assert not creds.directory.exists()
    assert ConnectionUsage.objects.filter(connection=connection, purpose="run", outcome="success").exists()


def masking_values(payload: dict[str, Any]) -> list[str]:
    return [value for value in secret_values(payload) if len(value) >= 8 and "\n" not in value]


def test_token_lifetime_is_capped_by_the_issuers_maximum(org, members, make_connection, settings, tmp_path):
    settings.RUN_TOKEN_LIFETIME_SECONDS = 7200
    settings.OIDC_MAX_ASSERTION_LIFETIME = 600
    connection = aws_connection(make_connection, org, "web_identity", role_arn=ROLE_ARN)
    with run_credentials(connection, actor=members["user"], environment="production", run_label="cap",
                         workdir=tmp_path) as creds:  # fmt: skip
        claims = decode(Path(creds.env["AWS_WEB_IDENTITY_TOKEN_FILE"]).read_text())
        (refresher,) = creds.services
        assert claims["exp"] - claims["iat"] == 600 and refresher.interval == 300  # 600 - the 300 s margin
