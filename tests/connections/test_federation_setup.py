"""Federated setup shown like the AWS trust policy: Azure federated credentials, GCP workload identity
federation and AWS web identity, on the connection page and in the API, derived from the issuer setting
and the subject the platform's tokens carry (`identity.keys.subject_for`)."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import Organization
from accounts.policy import Action
from identity.keys import subject_for
from tests.connections.conftest import connections_state, create_connection
from tests.permissions import Case, PermissionMatrix

ISSUER = "https://connect.example.com"
SUBJECT = "org:acme:connection:{name}"


@pytest.fixture(autouse=True)
def _issuer(settings):
    settings.OIDC_ISSUER_URL = ISSUER + "/"  # the trailing slash is dropped, as in the tokens' iss


def api_setup(api_as, name: str):
    return api_as("viewer").get(f"/api/v1/orgs/acme/connections/{name}/federation-setup/")


def page(client_as, name: str) -> str:
    response = client_as("viewer").get(reverse("connection_detail", args=["acme", name]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def values(setup: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in setup["values"]}


def test_azure_federated_shows_issuer_subject_audience_and_az_command(make_connection, org, api_as, client_as):
    connection = make_connection(org, "azure", auth_method="federated", name="azure-fed")
    subject = subject_for("acme", "azure-fed")
    assert subject == SUBJECT.format(name="azure-fed")
    response = api_setup(api_as, "azure-fed")
    assert response.status_code == 200
    setup = response.json()
    assert (setup["issuer"], setup["subject"], setup["warning"]) == (ISSUER, subject, "")
    found = values(setup)
    assert (found["issuer"], found["subject"], found["audience"]) == (ISSUER, subject, "api://AzureADTokenExchange")
    command = setup["commands"][0]["command"]
    assert command.startswith(f"az ad app federated-credential create --id {connection.config['client_id']} ")
    parameters = setup["documents"][0]["content"]
    assert parameters["issuer"] == ISSUER and parameters["subject"] == subject
    assert parameters["audiences"] == ["api://AzureADTokenExchange"]
    assert json.dumps(parameters) in command  # the --parameters are the document, quoted for the shell
    text = page(client_as, "azure-fed")
    assert "Federated credential in Microsoft Entra ID" in text
    for value in (ISSUER, subject, "api://AzureADTokenExchange", "az ad app federated-credential create"):
        assert value in text


def test_gcp_workload_identity_shows_pool_provider_and_gcloud_commands(make_connection, org, api_as, client_as):
    connection = make_connection(org, "gcp", auth_method="workload_identity", name="gcp-wif")
    subject = subject_for("acme", "gcp-wif")
    provider = connection.config["workload_identity_provider"]
    setup = api_setup(api_as, "gcp-wif").json()
    found = values(setup)
    assert found["issuer"] == ISSUER
    # The audience the platform's tokens carry for this provider (gcp.workload_identity_token).
    assert found["audience"] == f"//iam.googleapis.com/{provider}"
    assert found["attribute_mapping"] == "google.subject=assertion.sub"
    assert found["attribute_condition"] == f"assertion.sub=='{subject}'"
    assert found["member"].endswith(f"/workloadIdentityPools/platform-pool/subject/{subject}")
    commands = "\n".join(item["command"] for item in setup["commands"])
    assert "gcloud iam workload-identity-pools providers create-oidc oidc " in commands
    assert f"--issuer-uri={ISSUER}" in commands and "--workload-identity-pool=platform-pool" in commands
    assert f"add-iam-policy-binding {connection.config['service_account_email']}" in commands
    text = page(client_as, "gcp-wif")
    for value in (ISSUER, f"//iam.googleapis.com/{provider}", "google.subject=assertion.sub", "create-oidc"):
        assert value in text


def test_aws_web_identity_shows_oidc_provider_and_trust_policy(make_connection, org, api_as, client_as):
    connection = make_connection(org, "aws", auth_method="web_identity", name="aws-wid")
    account = connection.config["account_id"]
    subject = subject_for("acme", "aws-wid")
    setup = api_setup(api_as, "aws-wid").json()
    found = values(setup)
    assert found["issuer"] == ISSUER and found["audience"] == "sts.amazonaws.com"
    assert found["oidc_provider_arn"] == f"arn:aws:iam::{account}:oidc-provider/connect.example.com"
    policy = setup["documents"][0]["content"]
    statement = policy["Statement"][0]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": found["oidc_provider_arn"]}
    assert statement["Condition"]["StringEquals"] == {
        "connect.example.com:aud": "sts.amazonaws.com",
        "connect.example.com:sub": subject,
    }
    assert (
        f"create-open-id-connect-provider --url {ISSUER} --client-id-list sts.amazonaws.com"
        in (setup["commands"][0]["command"])
    )
    assert "--role-name Tf " in setup["commands"][1]["command"]
    text = page(client_as, "aws-wid")
    assert "IAM OIDC identity provider and role trust policy" in text
    assert json.dumps(policy, indent=2) in text


def test_issuer_path_and_non_https_issuer_warning(settings, make_connection, org, api_as, client_as):
    settings.OIDC_ISSUER_URL = "http://127.0.0.1:8000/oidc"
    make_connection(org, "aws", auth_method="web_identity", name="aws-wid")
    setup = api_setup(api_as, "aws-wid").json()
    assert "127.0.0.1:8000/oidc:sub" in setup["documents"][0]["content"]["Statement"][0]["Condition"]["StringEquals"]
    assert "not an https URL" in setup["warning"]
    assert "not an https URL" in page(client_as, "aws-wid")


@pytest.mark.parametrize(("provider", "method"), [("aws", "access_key"), ("azure", "client_secret"), ("github", None)])
def test_methods_without_federation_have_no_setup(make_connection, org, api_as, client_as, provider, method):
    connection = make_connection(org, provider, auth_method=method)
    assert api_setup(api_as, connection.name).status_code == 404
    assert "federation-setup" not in page(client_as, connection.name)


def test_other_org_cannot_see_the_setup(make_connection, org, other_org, api):
    make_connection(org, "azure", auth_method="federated", name="azure-fed")
    api.force_authenticate(user=other_org.memberships.get().user)
    assert api.get("/api/v1/orgs/acme/connections/azure-fed/federation-setup/").status_code == 404


class TestFederationSetupRoleTable(PermissionMatrix):
    """The setup holds nothing secret: every role of the organization sees it; another organization's is 404."""

    cases = [
        Case.api("get", "/api/v1/orgs/{org}/connections/{conn}/federation-setup/", Action.VIEW),
        Case.page("get", "/o/{org}/connections/{conn}/", Action.VIEW),
    ]

    def objects(self, org: Organization) -> dict[str, Any]:
        name = f"azure-{org.slug}"
        create_connection(org, "azure", name=name, auth_method="federated")
        return {"conn": name}

    def snapshot(self, org: Organization) -> list[tuple]:
        return connections_state(org)
