"""Least-privilege and separation advice (issue 12, item 4).

Role advice: AWS roles in moto (server mode; IAM policies attached to the roles, read back and judged
by our own code, since moto has no policy simulator) and Azure service principals against the ARM
fake. Findings are stored on the role, audited by code, and shown in the API and on the page; they
never change the status. Separation: a connection authorized for development-like and
production-like environments carries a warning on its card, its page and in the API.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.choices import AuditAction
from accounts.models import AuditEvent, Environment
from connections import services
from connections.advice import environment_tier, separation_warning
from connections.choices import RoleStatusChoices as Status
from connections.providers.aws import iam_policy
from connections.role_validation import do_add_role, do_validate_role
from tests.connections.conftest import add_aws_role, allow, attach, create_iam_role, trust_policy
from tests.connections.provider_examples import CLIENT_ID, SUBSCRIPTION_ID, TENANT_ID, valid_examples
from tests.fakes.azure_arm import FakeAzure
from tests.fakes.moto_server import MOTO_ACCOUNT_ID, moto, moto_server  # noqa: F401

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("platform_in_moto_account", "no_detected_permissions", "eager_role_validation"),
]

BASE = "/api/v1/orgs/acme/connections"
PRINCIPAL_ID = "5d1c9e36-0c8b-4a3e-9f41-2b7d6e8a9c10"
ADMIN_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def scoped(*actions: str, resource: str = "arn:aws:s3:::tf-state/*") -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]}


def codes(role) -> list[str]:
    return [item["code"] for item in role.advice]


# --- the evaluator on its own -----------------------------------------------------------------------


def test_findings_for_wildcards_resources_and_admin_policies() -> None:
    documents = {
        "managed policy AdministratorAccess": ADMIN_DOCUMENT,
        "managed policy IAMFullAccess": {"Statement": {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}},
        "inline policy net": {
            "Statement": [
                {"Sid": "Vpc", "Effect": "Allow", "Action": ["EC2:*", "s3:GetObject"], "Resource": "arn:aws:ec2:*"},
                {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::x"},
                {"Effect": "Deny", "Action": "*", "Resource": "*"},  # a Deny is never advice
                {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::x/*"},  # partial: fine
            ]
        },
    }
    findings = iam_policy.least_privilege_findings(
        documents, managed=["AdministratorAccess", "IAMFullAccess", "ReadOnlyAccess"]
    )
    assert findings == [
        ("admin_policy", "Managed policy AdministratorAccess is attached: AdministratorAccess grants every action "
         "on every resource."),
        ("admin_policy", "Managed policy IAMFullAccess is attached: IAMFullAccess lets the role create users and "
         "roles with any permission (escalation)."),
        ("wildcard_action", 'inline policy net statement 1 (Vpc): Action "ec2:*" allows every action of the service.'),
        ("wildcard_action", "inline policy net statement 2: NotAction allows every action except iam:*."),
    ]
    assert iam_policy.least_privilege_findings({"p": scoped("s3:GetObject")}) == []
    assert iam_policy.least_privilege_findings({}, managed=["PowerUserAccess"])[0][0] == "admin_policy"


# --- AWS roles in moto ------------------------------------------------------------------------------


def test_aws_role_advice_is_stored_audited_and_shown(aws_connection, members, iam, api_as, client_as) -> None:
    arn = create_iam_role(
        iam, "tf-wide", trust_policy(aws_connection.external_id),
        managed={"AdministratorAccess": ADMIN_DOCUMENT, "state": scoped("s3:GetObject", "s3:PutObject")},
        inline={"logs": allow("logs:*")},
    )
    role = do_validate_role(add_aws_role(aws_connection, members, arn), actor=members["provisioner"])
    assert role.status == Status.VALID, role.validation_error  # advice never makes a role unusable
    assert codes(role) == ["admin_policy", "wildcard_action", "wildcard_resource"]
    assert role.advice[0]["message"].startswith("Managed policy AdministratorAccess is attached")
    assert 'inline policy logs statement 1: Action "logs:*"' in role.advice[1]["message"]
    event = AuditEvent.objects.filter(action=AuditAction.CONNECTION_ROLE_VALIDATED).latest("seq")
    assert event.details["advice"] == ["admin_policy", "wildcard_action", "wildcard_resource"]

    body = api_as("viewer").get(f"{BASE}/{aws_connection.name}/roles/{role.pk}/").json()
    assert body["advice"] == role.advice
    page = client_as("viewer").get(reverse("connection_detail", args=["acme", aws_connection.name])).content.decode()
    assert "Least-privilege advice" in page and 'data-advice="admin_policy"' in page
    assert "Managed policy AdministratorAccess is attached" in page


def test_least_privileged_aws_role_has_no_advice(aws_connection, members, iam) -> None:
    arn = create_iam_role(iam, "tf-narrow", trust_policy(aws_connection.external_id), managed={"state": scoped("s3:*")})
    role = do_validate_role(add_aws_role(aws_connection, members, arn), actor=members["provisioner"])
    assert codes(role) == ["wildcard_action"]  # s3:* on one bucket: still every S3 action
    iam.detach_role_policy(RoleName="tf-narrow", PolicyArn=f"arn:aws:iam::{MOTO_ACCOUNT_ID}:policy/state")
    attach(iam, "tf-narrow", "state-exact", scoped("s3:GetObject", "s3:PutObject"))
    role = do_validate_role(role, actor=members["provisioner"])
    assert role.advice == []


def test_advice_survives_a_validation_that_could_not_read_policies(aws_connection, members, iam) -> None:
    """An expired role has no policies left: its advice is cleared, like its granted permissions."""
    arn = create_iam_role(iam, "tf-gone", trust_policy(aws_connection.external_id), inline={"all": ADMIN_DOCUMENT})
    role = do_validate_role(add_aws_role(aws_connection, members, arn), actor=members["provisioner"])
    assert codes(role) == ["wildcard_action", "wildcard_resource"]
    iam.delete_role_policy(RoleName="tf-gone", PolicyName="all")
    iam.delete_role(RoleName="tf-gone")
    role = do_validate_role(role, actor=members["provisioner"])
    assert role.status == Status.EXPIRED and role.advice == []


# --- Azure against the ARM fake ---------------------------------------------------------------------


@pytest.fixture
def azure(settings, monkeypatch, tmp_path: Path):
    for name in ("PROVIDER_ENDPOINT_AZURE_AUTHORITY", "PROVIDER_ENDPOINT_AZURE_MANAGEMENT", "AZURE_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    with FakeAzure(tenant_id=TENANT_ID, subscription_id=SUBSCRIPTION_ID) as fake:
        ca_file = tmp_path / "azure-ca.pem"
        ca_file.write_text(fake.ca_pem)
        settings.AZURE_CA_BUNDLE = str(ca_file)
        settings.PROVIDER_ENDPOINTS = {"azure_authority": fake.url, "azure_management": fake.url}
        settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        fake.add_client(CLIENT_ID, secret=valid_examples()["azure"]["client_secret"][1]["client_secret"])
        yield fake


def validate_azure(org, members, make_connection):
    connection = make_connection(org, "azure", auth_method="client_secret")
    role = do_add_role(connection, actor=members["provisioner"], client_id=CLIENT_ID, object_id=PRINCIPAL_ID)
    return do_validate_role(role, actor=members["provisioner"])


def test_azure_admin_roles_at_subscription_scope(azure, org, members, make_connection) -> None:
    azure.define_role("User Access Administrator", ["*/read", "Microsoft.Authorization/*"])
    azure.assign(PRINCIPAL_ID, "Owner")
    azure.assign(PRINCIPAL_ID, "User Access Administrator")
    azure.assign(PRINCIPAL_ID, "Contributor", scope=f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-app")
    azure.assign(PRINCIPAL_ID, "Reader")
    role = validate_azure(org, members, make_connection)
    assert role.status == Status.VALID, role.validation_error
    subscription = f"/subscriptions/{SUBSCRIPTION_ID}"
    assert role.advice == [
        {"code": "admin_policy", "message": f"Owner is assigned at {subscription}: Owner grants every action, "
         "including giving access to others."},
        {"code": "admin_policy", "message": f"User Access Administrator is assigned at {subscription}: User Access "
         "Administrator can give anyone any role."},
        # Contributor on one resource group is not an administrator of the subscription, but it is a wildcard.
        {"code": "wildcard_action", "message": f'Contributor at {subscription}/resourceGroups/rg-app allows the '
         'wildcard actions "*".'},
    ]


def test_azure_reader_and_narrow_custom_role_have_no_advice(azure, org, members, make_connection) -> None:
    azure.define_role("Network operator", ["Microsoft.Network/virtualNetworks/read"])
    azure.assign(PRINCIPAL_ID, "Reader")
    azure.assign(PRINCIPAL_ID, "Network operator")
    assert validate_azure(org, members, make_connection).advice == []


# --- separation of development and production -------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "name", "tier"),
    [
        ("development", "Development", "development"),
        ("staging", "", "development"),
        ("qa-eu", "", "development"),
        ("nonprod", "", "development"),
        ("pre-prod", "", "development"),
        ("production", "", "production"),
        ("eu_prod", "", "production"),
        ("main", "Live site", "production"),
        ("product-catalog", "Product catalog", None),
        ("shared", "", None),
    ],
)
def test_environment_tier(slug, name, tier) -> None:
    assert environment_tier(slug, name) == tier


def test_separation_warning_needs_both_kinds() -> None:
    envs = [Environment(slug="development", name="Dev"), Environment(slug="shared", name="Shared")]
    assert separation_warning(envs) == ""
    envs.append(Environment(slug="production", name="Production"))
    warning = separation_warning(envs)
    assert "development-like (development)" in warning and "production-like (production)" in warning


def test_dev_and_prod_connection_is_warned_on_card_page_and_api(org, members, make_connection, api_as, client_as):
    both = make_connection(org, "github", name="gh-both", environments=("development", "production"))
    make_connection(org, "gitlab", name="gl-dev", environments=("development", "staging"))
    listing = {c["name"]: c for c in api_as("viewer").get(f"{BASE}/").json()["results"]}
    assert "development-like (development)" in listing["gh-both"]["separation_warning"]
    assert listing["gl-dev"]["separation_warning"] == ""
    assert api_as("viewer").get(f"{BASE}/gh-both/").json()["separation_warning"] == listing["gh-both"][
        "separation_warning"
    ]

    cards = client_as("viewer").get(reverse("connection_list", args=["acme"])).content.decode()
    assert cards.count("separation-warning") == 1 and "production-like (production)" in cards
    page = client_as("viewer").get(reverse("connection_detail", args=["acme", "gh-both"])).content.decode()
    assert "separation-warning" in page
    services.do_revoke_environment(both, Environment.objects.get(org=org, slug="production"), actor=members["admin"])
    page = client_as("viewer").get(reverse("connection_detail", args=["acme", "gh-both"])).content.decode()
    assert "separation-warning" not in page


def test_warning_adds_no_queries_to_the_card_list(org, members, make_connection, client_as):
    client = client_as("viewer")
    make_connection(org, "github", name="gh-0", environments=("development", "production"))
    with CaptureQueriesContext(db) as one:
        client.get(reverse("connection_list", args=["acme"]))
    for index, provider in enumerate(("gitlab", "dockerhub", "cloudflare")):
        make_connection(org, provider, name=f"c-{index}", environments=("staging", "production"))
    with CaptureQueriesContext(db) as four:
        page = client.get(reverse("connection_list", args=["acme"])).content.decode()
    assert page.count("separation-warning") == 4
    assert len(four.captured_queries) == len(one.captured_queries)
