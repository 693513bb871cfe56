"""Server-rendered connection pages: the role table on every page, tenant isolation (404), the forms
generated from the provider registry (every provider created through its page), secrets never echoed,
rotate, authorizations, the deletion preview, filters, the Test button, selection, connection roles (add,
Validate, remove against moto), and query counts."""

from __future__ import annotations

import html
import re
from typing import Any

import boto3
import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from accounts.choices import PlanChoices
from accounts.models import Environment, Organization
from accounts.policy import Action
from connections import services
from connections.models import Connection, ConnectionAuthorization, ConnectionRole, ConnectionUsage
from connections.providers import REGISTRY
from connections.secrets import load_secrets
from tests.connections.conftest import (
    REFERENCES,
    connections_state,
    create_aws_role_connection,
    create_connection,
    create_iam_role,
    example,
    trust_policy,
)
from tests.connections.provider_examples import valid_examples
from tests.fakes.moto_server import MOTO_ACCOUNT_ID, moto, moto_server  # noqa: F401
from tests.permissions import Case, PermissionMatrix

pytestmark = pytest.mark.django_db

QUERY_BOUND = 16  # measured: 15 for a viewer (guardian is asked about the org), 12 for an admin
ALL_EXAMPLES = [(provider, method) for provider, methods in valid_examples().items() for method in methods]


def url(route: str, org_slug: str = "acme", /, **kwargs: Any) -> str:
    return reverse(route, kwargs={"org_slug": org_slug, **kwargs})


def text(response) -> str:
    return html.unescape(response.content.decode())


def card_names(page: str) -> list[str]:
    """Names of the connection cards on the connections page, in order."""
    return re.findall(r'<h3 id="connection-[^"]+"><a href="[^"]+">([^<]+)</a></h3>', page)


def field_block(page: str, name: str) -> str:
    """The `<div class="field">` wrapping form field `name` (label, input, help text and errors)."""
    pattern = (
        rf'<div class="field[^"]*">(?:(?!<div class="field).)*?id="id_{name}".*?</div>'
        r'\s*(?:<ul class="errorlist".*?</ul>)?'
    )
    match = re.search(pattern, page, re.S)
    assert match, f"no field {name}"
    return match.group(0)


def form_data(provider: str, method: str, name: str, environments: tuple[str, ...] = ()) -> dict[str, Any]:
    """What a person types into the generated form: the provider's valid example, as strings."""
    _, config, secrets = example(provider, method)
    data: dict[str, Any] = {"name": name, "description": f"{provider} through the page"}
    for key, value in {**config, **secrets}.items():
        data[key] = str(value)
    data["environments"] = list(environments)
    return data


def create_references(make_connection, org, provider: str) -> None:
    """ECR, GCR and the state backends borrow aws-production / gcp-production: create it first."""
    if provider in REFERENCES:
        make_connection(org, REFERENCES[provider], name=f"{REFERENCES[provider]}-production")


# --- The role table on every page ------------------------------------------------------------------


@pytest.fixture
def github(org, members, make_connection) -> Connection:
    return make_connection(org, "github", name="gh-main", auth_method="oauth", environments=("development",))


CONNECTION = "/o/{org}/connections/{conn}/"


class TestRoleTable(PermissionMatrix):
    """Every connection page and form: every role, another organization's connection (404, also under
    our own organization's URL), an outsider (404), anonymous (sent to login); a refused request changes
    nothing. {conn} is gh-<org>, a GitHub OAuth connection authorized for development."""

    cases = [
        Case.page("get", "/o/{org}/connections/", Action.VIEW),
        Case.page("get", CONNECTION, Action.VIEW),
        Case.page("get", CONNECTION + "usage/", Action.VIEW),
        Case.page("get", "/o/{org}/environments/development/selection/?provider=github", Action.VIEW),
        Case.page("get", "/o/{org}/connections/new/github/", Action.MANAGE_CONNECTIONS),
        Case.page("get", "/o/{org}/connections/new/aws/?auth_method=assume_role", Action.MANAGE_CONNECTIONS),
        Case.page("get", CONNECTION + "edit/", Action.MANAGE_CONNECTIONS),
        Case.page("get", CONNECTION + "rotate/", Action.MANAGE_CONNECTIONS),
        Case.page("get", CONNECTION + "authorizations/", Action.MANAGE_CONNECTIONS),
        Case.page("get", CONNECTION + "delete/", Action.MANAGE_CONNECTIONS),
        Case.page("post", "/o/{org}/connections/new/github/?auth_method=pat", Action.MANAGE_CONNECTIONS,
                  body=form_data("github", "pat", "gh-new")),
        Case.page("post", CONNECTION + "edit/", Action.MANAGE_CONNECTIONS,
                  body={"name": "renamed", "base_url": "https://api.github.com"}),
        Case.page("post", CONNECTION + "rotate/", Action.MANAGE_CONNECTIONS,
                  body={"token": "gho_" + "Z9y8X7w6V5u4" * 3}),
        Case.page("post", CONNECTION + "authorizations/", Action.MANAGE_CONNECTIONS,
                  body={"environments": ["staging"]}),
        Case.page("post", CONNECTION + "status/", Action.MANAGE_CONNECTIONS, body={"active": "0"}),
        Case.page("post", CONNECTION + "default/", Action.MANAGE_CONNECTIONS, body={"environment": "development"}),
        Case.page("post", CONNECTION + "delete/", Action.MANAGE_CONNECTIONS),
        Case.page("post", CONNECTION + "test/", Action.TEST_CONNECTION),
    ]  # fmt: skip

    @pytest.fixture(autouse=True)
    def _github_unreachable(self, settings) -> None:
        """The Test button runs a real check: against a closed port, so it fails fast and offline."""
        settings.PROVIDER_ENDPOINTS = {"github": "http://127.0.0.1:9"}
        settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]

    def objects(self, org: Organization) -> dict[str, Any]:
        name = f"gh-{org.slug}"
        create_connection(org, "github", name=name, auth_method="oauth", environments=("development",))
        return {"conn": name}

    def snapshot(self, org: Organization) -> list[tuple]:
        return connections_state(org)


def test_get_is_not_allowed_on_post_only_actions(client_as, github):
    client = client_as("admin")
    assert client.get(url("connection_test", connection_name="gh-main")).status_code == 405
    assert client.get(url("connection_set_active", connection_name="gh-main")).status_code == 405


def detail_controls() -> list[str]:
    """Markup of the detail page's action controls: the POST buttons and the links to action pages."""
    links = ["connection_edit", "connection_rotate", "connection_authorizations", "connection_delete"]
    return [
        ">Test connection</button>",
        ">Deactivate</button>",
        *(f'href="{url(name, connection_name="gh-main")}"' for name in links),
    ]


def test_viewer_sees_everything_but_no_action_controls(client_as, github):
    client = client_as("viewer")
    page = text(client.get(url("connection_list")))
    assert "gh-main" in page
    assert "Add a connection" not in page
    assert f'href="{url("connection_create", provider="github")}"' not in page
    detail = text(client.get(url("connection_detail", connection_name="gh-main")))
    assert "Details" in detail and "Authorized environments" in detail
    for control in detail_controls():
        assert control not in detail, control
    assert '<form method="post"' not in detail.split('<main id="main"')[1]


def test_user_may_test_but_not_manage(client_as, github):
    detail = text(client_as("user").get(url("connection_detail", connection_name="gh-main")))
    assert [control in detail for control in detail_controls()] == [True, False, False, False, False, False]
    admin = text(client_as("admin").get(url("connection_detail", connection_name="gh-main")))
    for control in detail_controls():
        assert control in admin, control


def test_unknown_objects_answer_404(client_as, github):
    """What the matrix does not cover: names of nothing (a connection, a provider, an auth method, an
    environment)."""
    client = client_as("admin")
    paths = [
        url("connection_detail", connection_name="does-not-exist"),
        url("connection_create", provider="no-such-provider"),
        url("connection_create", provider="github") + "?auth_method=nope",
        url("environment_selection", env_slug="nope"),
    ]
    for path in paths:
        assert client.get(path).status_code == 404, path


def test_navigation_links_to_the_connections_page(client_as, org, members):
    page = text(client_as("viewer").get(url("org_home")))
    assert f'href="{url("connection_list")}"' in page


# --- The connections page --------------------------------------------------------------------------


def test_connection_types_are_grouped_by_category_for_admins(client_as, org):
    page = text(client_as("admin").get(url("connection_list")))
    for label in (
        "Cloud providers",
        "Git providers",
        "Container registries",
        "Terraform state backends",
        "On-premises",
    ):
        assert label in page
    for spec in REGISTRY.values():
        assert f'href="{url("connection_create", provider=spec.code)}"' in page, spec.code
        assert spec.description in page
    assert "Needs the" not in page  # acme is on Enterprise


def test_providers_the_plan_does_not_allow_are_disabled(client_as, org, make_connection):
    org.plan = PlanChoices.STARTER
    org.save()
    page = text(client_as("admin").get(url("connection_list")))
    assert page.count("Needs the Enterprise plan") == 2  # proxmox, vcenter
    assert f'href="{url("connection_create", provider="proxmox")}"' not in page
    org.plan = PlanChoices.FREE
    org.save()
    make_connection(org, "aws", name="aws-one")
    page = text(client_as("admin").get(url("connection_list")))
    assert "Needs the Starter plan" in page  # a second cloud provider type
    assert f'href="{url("connection_create", provider="aws")}"' in page


def test_cards_show_status_facts_environments_health_and_rotation(client_as, org, make_connection):
    aws = make_connection(org, "aws", name="aws-prod", auth_method="access_key", environments=("production", "staging"))
    make_connection(org, "azure", name="az-main", auth_method="federated")
    make_connection(org, "proxmox", name="pve-lab")
    Connection.objects.filter(pk=aws.pk).update(
        credentials_rotated_at=aws.credentials_rotated_at.replace(year=aws.credentials_rotated_at.year - 1)
    )
    page = text(client_as("viewer").get(url("connection_list")))
    assert card_names(page) == ["aws-prod", "az-main", "pve-lab"]
    aws_card = page.split(f'id="connection-{aws.pk}"')[1].split("</article>")[0]
    for expected in (
        "Amazon Web Services",
        "Access key",
        "Active",
        "Account ID",
        "123456789012",
        "eu-west-1",
        '<span class="chip">production</span>',
        '<span class="chip">staging</span>',
        "Not checked",
        "Last used never",
        "Rotation due",
    ):
        assert expected in aws_card, expected
    assert "Subscription ID" in page and "2f1a4b6c-8d9e-4f01-a234-56789abcdef0" in page
    assert "192.168.50.0/24" in page and "https://192.168.50.10:8006" in page
    assert page.count("Rotation due") == 1


def test_filters_narrow_the_cards_and_stay_in_the_form(client_as, org, make_connection):
    make_connection(org, "github", name="gh-alpha", auth_method="oauth")
    beta = make_connection(org, "aws", name="aws-beta", auth_method="assume_role")
    make_connection(org, "gitlab", name="gl-gamma", auth_method="oauth")
    services.do_set_active(beta, actor=org.memberships.get(role="admin").user, active=False)
    client = client_as("viewer")

    assert card_names(text(client.get(url("connection_list")))) == ["aws-beta", "gh-alpha", "gl-gamma"]
    page = text(client.get(url("connection_list"), {"q": "alph"}))
    assert card_names(page) == ["gh-alpha"]
    assert 'name="q" value="alph"' in page
    page = text(client.get(url("connection_list"), {"provider": "aws"}))
    assert card_names(page) == ["aws-beta"]
    assert '<option value="aws" selected>' in page
    page = text(client.get(url("connection_list"), {"status": "inactive"}))
    assert card_names(page) == ["aws-beta"]
    assert '<option value="inactive" selected>' in page
    page = text(client.get(url("connection_list"), {"status": "active", "q": "g"}))
    assert card_names(page) == ["gh-alpha", "gl-gamma"]
    page = text(client.get(url("connection_list"), {"provider": "nope"}))
    assert card_names(page) == [] and "Select a valid choice" in page


def test_pagination_keeps_the_filters(client_as, org, members):
    admin = members["admin"]
    for i in range(30):
        services.do_create_connection(
            org,
            actor=admin,
            name=f"gh-{i:02d}",
            provider="github",
            auth_method="oauth",
            secrets={"token": "gho_" + "A1b2C3d4E5f6" * 3},
        )
    page = text(client_as("viewer").get(url("connection_list"), {"provider": "github"}))
    assert len(card_names(page)) == 24
    assert "Page 1 of 2" in page
    assert "?provider=github&amp;page=2" in page.replace("&", "&amp;").replace("&amp;amp;", "&amp;")
    page2 = text(client_as("viewer").get(url("connection_list"), {"provider": "github", "page": 2}))
    assert card_names(page2) == [f"gh-{i:02d}" for i in range(24, 30)]


def _bulk(org, members, count: int, start: int = 0) -> None:
    """`count` connections of several providers, each authorized for its own environment, some with roles."""
    admin = members["admin"]
    providers = ["github", "aws", "gitlab", "dockerhub", "azure"]
    for i in range(start, start + count):
        provider = providers[i % len(providers)]
        method, config, secrets = example(provider)
        conn = services.do_create_connection(
            org,
            actor=admin,
            name=f"bulk-{i:03d}",
            provider=provider,
            auth_method=method,
            config=config,
            secrets=secrets,
        )
        env = Environment.objects.create(org=org, slug=f"env-{i:03d}", name=f"Env {i}")
        ConnectionAuthorization.objects.create(connection=conn, environment=env, org=org, provider=provider)
        if provider == "aws":
            ConnectionRole.objects.create(connection=conn, org=org, role_arn=f"arn:aws:iam::123456789012:role/r{i}")


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_connections_page_query_count_does_not_grow(client_as, org, members, django_assert_max_num_queries, role):
    client = client_as(role)
    _bulk(org, members, 10)
    with django_assert_max_num_queries(QUERY_BOUND):
        page = text(client.get(url("connection_list")))
    assert len(card_names(page)) == 10
    _bulk(org, members, 50, start=10)
    with django_assert_max_num_queries(QUERY_BOUND):
        page = text(client.get(url("connection_list")))
    assert len(card_names(page)) == 24
    assert "env-000" in page and "1 role" in page


# --- Create through the generated form ---------------------------------------------------------------


# OAuth methods are created on the provider's callback (tests/connections/test_oauth.py), not by this form.
TYPED_EXAMPLES = [(p, m) for p, m in ALL_EXAMPLES if REGISTRY[p].oauth_for(m) is None]


@pytest.mark.parametrize(("provider", "method"), TYPED_EXAMPLES)
def test_every_provider_is_created_through_its_page(client_as, org, make_connection, provider, method):
    create_references(make_connection, org, provider)
    client = client_as("admin")
    create_url = url("connection_create", provider=provider) + f"?auth_method={method}"
    form = text(client.get(create_url))
    _, config, secrets = example(provider, method)
    for name in [*config, *secrets]:
        assert f'name="{name}"' in form, name
    name = f"page-{provider.replace('_', '-')}-{method.replace('_', '-')}"
    response = client.post(create_url, form_data(provider, method, name, ("development",)))
    assert response.status_code == 302, text(response)[-3000:]
    assert response["Location"] == url("connection_detail", connection_name=name)
    connection = Connection.objects.get(org=org, name=name)
    assert (connection.provider, connection.auth_method) == (provider, method)
    assert set(connection.secret_fingerprints) == set(secrets)
    assert list(connection.authorizations.values_list("environment__slug", flat=True)) == ["development"]
    detail = text(client.get(response["Location"]))
    assert "created" in detail
    for value in secrets.values():
        assert value not in detail


def test_secret_inputs_are_write_only_widgets(client_as, org):
    client = client_as("admin")
    page = text(client.get(url("connection_create", provider="aws")))
    assert re.search(r'<input type="password" name="secret_access_key"[^>]*autocomplete="new-password"', page)
    gcp = text(client.get(url("connection_create", provider="gcp")))
    assert re.search(r'<textarea name="service_account_key"', gcp)
    assert '<input type="checkbox" name="environments" value="development"' in page
    assert 'value="us-east-1"' in page  # the region's default is pre-filled


def test_auth_method_chooser_is_links_and_changes_the_fields(client_as, org):
    client = client_as("admin")
    page = text(client.get(url("connection_create", provider="aws")))
    assert f'href="{url("connection_create", provider="aws")}?auth_method=assume_role"' in page
    assert 'name="secret_access_key"' in page
    assume = text(client.get(url("connection_create", provider="aws"), {"auth_method": "assume_role"}))
    assert 'name="secret_access_key"' not in assume and 'name="access_key_id"' not in assume
    assert "External ID" in assume and "Nothing secret is typed in" in assume


def test_connection_reference_is_a_select_of_allowed_connections(client_as, org, make_connection):
    make_connection(org, "aws", name="aws-production")
    make_connection(org, "gcp", name="gcp-production")
    page = text(client_as("admin").get(url("connection_create", provider="ecr")))
    select = re.search(r'<select name="cloud_connection".*?</select>', page, re.S).group(0)
    assert '<option value="aws-production">' in select
    assert "gcp-production" not in select


def test_invalid_field_shows_its_error_next_to_it_and_never_echoes_secrets(client_as, org):
    client = client_as("admin")
    data = form_data("aws", "access_key", "aws-bad")
    secret = data["secret_access_key"]
    data["account_id"] = "12345"
    response = client.post(url("connection_create", provider="aws"), data)
    assert response.status_code == 200
    page = text(response)
    block = field_block(page, "account_id")
    assert 'aria-invalid="true"' in block and "errorlist" in block
    assert "errorlist" not in field_block(page, "region")
    assert secret not in page
    assert "enter them again" in page
    assert 'value="aws-bad"' in page  # public values are kept

    gh = form_data("github", "pat", "gh-bad")
    gh["token"] = "ghp_tooShort0123456789"
    page = text(client.post(url("connection_create", provider="github") + "?auth_method=pat", gh))
    assert "errorlist" in field_block(page, "token")
    assert "ghp_tooShort0123456789" not in page

    gcp = form_data("gcp", "service_account_key", "gcp-bad")
    gcp["project_id"] = "Bad_Project"
    page = text(client.post(url("connection_create", provider="gcp"), gcp))
    assert "errorlist" in field_block(page, "project_id")
    assert "PRIVATE KEY" not in page and "private_key_id" not in page
    assert not Connection.objects.filter(org=org).exists()


def test_service_errors_land_on_their_fields(client_as, org, make_connection):
    make_connection(org, "github", name="gh-taken", environments=("production",))
    client = client_as("admin")
    data = form_data("github", "pat", "gh-taken", ("production",))
    create = url("connection_create", provider="github") + "?auth_method=pat"  # OAuth creates on its callback
    page = text(client.post(create, data))
    assert "A connection named 'gh-taken' already exists in acme." in field_block(page, "name")
    page = text(client.get(url("connection_create", provider="github")))
    assert "default: “gh-taken”" in page  # ticking production adds a second, non-default connection


def test_plan_limit_is_a_form_error(client_as, org, make_connection):
    org.plan = PlanChoices.FREE
    org.save()
    make_connection(org, "aws", name="aws-one")
    response = client_as("admin").post(
        url("connection_create", provider="gcp"), form_data("gcp", "service_account_key", "gcp-one")
    )
    assert response.status_code == 200
    page = text(response)
    assert "needs the Starter plan" in page
    assert re.search(r'<div class="form-errors" role="alert">.*Starter plan', page, re.S)
    assert not Connection.objects.filter(name="gcp-one").exists()


# --- Detail, test, activate ------------------------------------------------------------------------


def test_detail_shows_public_facts_and_which_secrets_are_set(client_as, github):
    page = text(client_as("viewer").get(url("connection_detail", connection_name="gh-main")))
    _, config, secrets = example("github", "oauth")
    assert config["organization"] in page and "https://api.github.com" in page
    assert "set" in page and github.secret_fingerprints["token"] in page
    assert secrets["token"] not in page
    assert ">development</a>" in page


def test_assume_role_detail_shows_external_id_and_trust_policy(client_as, org, make_connection, settings):
    settings.PLATFORM_AWS_ACCOUNT_ID = "999988887777"
    aws = make_connection(org, "aws", name="aws-role", auth_method="assume_role")
    ConnectionRole.objects.create(
        connection=aws, org=org, name="network", role_arn="arn:aws:iam::123456789012:role/Net"
    )
    page = text(client_as("viewer").get(url("connection_detail", connection_name="aws-role")))
    assert aws.external_id and aws.external_id in page
    assert f'"sts:ExternalId": "{aws.external_id}"' in page
    assert "arn:aws:iam::999988887777:root" in page
    assert "arn:aws:iam::123456789012:role/Net" in page and "Pending" in page


def test_test_button_shows_the_saved_failure(client_as, org, make_connection, settings):
    settings.PROVIDER_ENDPOINTS = {"github": "http://127.0.0.1:9"}
    settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    connection = make_connection(org, "github", name="gh-test", auth_method="oauth")
    assert client_as("viewer").post(url("connection_test", connection_name="gh-test")).status_code == 403
    response = client_as("user").post(url("connection_test", connection_name="gh-test"), follow=True)
    assert response.redirect_chain[-1][0] == url("connection_detail", connection_name="gh-test")
    page = text(response)
    assert "Authentication failed" in page
    connection.refresh_from_db()
    assert connection.status == "error" and connection.health_status == "unhealthy"
    assert '<span class="badge badge-error">Error</span>' in page
    assert "Unhealthy" in page and "ms" in page
    assert example("github", "oauth")[2]["token"] not in page


def test_per_object_grants_count_on_connection_pages(client_as, members, org, make_connection, settings):
    """A viewer granted testing on one connection (django-guardian) gets its Test button, on that one only."""
    settings.PROVIDER_ENDPOINTS = {"github": "http://127.0.0.1:9"}
    settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    granted = make_connection(org, "github", name="gh-granted", auth_method="oauth")
    make_connection(org, "gitlab", name="gl-other", auth_method="oauth")
    for perm in ("connections.test_connection", "connections.use_connection"):
        assign_perm(perm, members["viewer"], granted)
    client = client_as("viewer")
    assert ">Test connection</button>" in text(client.get(url("connection_detail", connection_name="gh-granted")))
    assert ">Test connection</button>" not in text(client.get(url("connection_detail", connection_name="gl-other")))
    assert client.post(url("connection_test", connection_name="gh-granted")).status_code == 302
    assert Connection.objects.get(pk=granted.pk).last_checked_at is not None
    assert client.post(url("connection_test", connection_name="gl-other")).status_code == 403
    assert client.post(url("connection_set_active", connection_name="gh-granted"), {"active": "0"}).status_code == 403


def test_activate_and_deactivate(client_as, github):
    client = client_as("admin")
    response = client.post(url("connection_set_active", connection_name="gh-main"), {"active": "0"}, follow=True)
    assert "deactivated" in text(response) and "Activate" in text(response)
    assert Connection.objects.get(pk=github.pk).status == "inactive"
    client.post(url("connection_set_active", connection_name="gh-main"), {"active": "1"})
    assert Connection.objects.get(pk=github.pk).status == "active"


# --- Edit, rotate, authorizations -----------------------------------------------------------------


def test_edit_changes_public_fields_and_follows_a_rename(client_as, github):
    client = client_as("admin")
    page = text(client.get(url("connection_edit", connection_name="gh-main")))
    assert 'value="acme-corp"' in page
    # The token input is there only to re-confirm it when the API URL moves; it never carries the value.
    assert "value=" not in field_block(page, "token") and load_secrets(github)["token"] not in page
    response = client.post(
        url("connection_edit", connection_name="gh-main"),
        {
            "name": "gh-renamed",
            "description": "Org repos",
            "base_url": "https://api.github.com",
            "organization": "acme-two",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url("connection_detail", connection_name="gh-renamed")
    github.refresh_from_db()
    assert (github.name, github.description, github.config["organization"]) == ("gh-renamed", "Org repos", "acme-two")
    page = text(
        client.post(
            url("connection_edit", connection_name="gh-renamed"), {"name": "gh-renamed", "base_url": "http://x"}
        )
    )
    assert "errorlist" in field_block(page, "base_url")


def test_rotate_replaces_given_secrets_and_keeps_placeholders(client_as, org, make_connection):
    pve = make_connection(org, "proxmox", name="pve-lab")
    before = dict(pve.secret_fingerprints)
    old_password = load_secrets(pve)["ssh_password"]
    client = client_as("admin")
    page = text(client.get(url("connection_rotate", connection_name="pve-lab")))
    assert "Rotation due" in page and 'name="token"' in page and 'name="node"' not in page
    new_token = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    response = client.post(
        url("connection_rotate", connection_name="pve-lab"), {"token": new_token, "ssh_password": "***"}
    )
    assert response.status_code == 302
    pve.refresh_from_db()
    assert pve.secret_fingerprints["token"] != before["token"]
    assert pve.secret_fingerprints["ssh_password"] == before["ssh_password"]
    assert load_secrets(pve) == {"token": new_token, "ssh_password": old_password}
    page = text(client.post(url("connection_rotate", connection_name="pve-lab"), {"token": "", "ssh_password": "***"}))
    assert "Send at least one new secret value." in page
    page = text(client.post(url("connection_rotate", connection_name="pve-lab"), {"token": "not-a-uuid-at-all"}))
    assert "errorlist" in field_block(page, "token") and "not-a-uuid-at-all" not in page


def test_rotate_without_secret_fields_says_so(client_as, org, make_connection):
    make_connection(org, "aws", name="aws-role", auth_method="assume_role")
    page = text(client_as("admin").get(url("connection_rotate", connection_name="aws-role")))
    assert "nothing to rotate" in page and '<form method="post" class="form-stack' not in page


def test_authorizations_and_defaults_on_the_authorizations_page(client_as, org, make_connection):
    make_connection(org, "aws", name="aws-prod", environments=("production",))
    make_connection(org, "aws", name="aws-dev", environments=("development",))
    client = client_as("admin")
    page_url = url("connection_authorizations", connection_name="aws-dev")
    page = text(client.get(page_url))
    assert re.search(r'value="development"[^>]*checked', page)
    assert "default: “aws-prod”" in page
    response = client.post(page_url, {"environments": ["production", "development"]})
    assert response.status_code == 302
    rows = dict(
        ConnectionAuthorization.objects.filter(connection__name="aws-dev").values_list(
            "environment__slug", "is_default"
        )
    )
    assert rows == {"development": True, "production": False}  # production keeps aws-prod as its default
    page = text(client.get(page_url))
    assert "Make default in production" in page and "Make default in development" not in page

    response = client.post(url("connection_set_default", connection_name="aws-dev"), {"environment": "production"})
    assert response.status_code == 302 and response["Location"] == page_url
    assert "“aws-dev” is the default aws connection of production." in text(client.get(page_url))
    default = ConnectionAuthorization.objects.get(environment__slug="production", is_default=True)
    assert default.connection.name == "aws-dev"
    # Not authorized there: the refusal is shown on the connection, nothing changes.
    response = client.post(url("connection_set_default", connection_name="aws-prod"), {"environment": "staging"})
    assert response.status_code == 302
    assert "'aws-prod' is not authorized for environment 'staging'; authorize it first." in text(
        client.get(response["Location"])
    )
    unknown = client.post(url("connection_set_default", connection_name="aws-prod"), {"environment": "qa"})
    assert unknown.status_code == 404
    client.post(page_url, {})
    assert not ConnectionAuthorization.objects.filter(connection__name="aws-dev").exists()
    assert ConnectionAuthorization.objects.get(environment__slug="production").is_default  # aws-prod promoted back


# --- Usage, delete, selection ----------------------------------------------------------------------


def test_usage_history_is_paginated(client_as, org, github):
    ConnectionUsage.objects.bulk_create(
        ConnectionUsage(
            connection=github,
            org=org,
            environment="development",
            actor_label="ci@acme.test",
            purpose=f"run {i}",
            resource=f"repo-{i}",
            outcome="failure" if i % 2 else "success",
            error="Authentication failed: Bad credentials" if i % 2 else "",
        )
        for i in range(60)
    )
    client = client_as("viewer")
    page = text(client.get(url("connection_usage", connection_name="gh-main")))
    assert "60 uses" in page and page.count("ci@acme.test") == 50
    assert "Authentication failed: Bad credentials" in page and "Page 1 of 2" in page
    page2 = text(client.get(url("connection_usage", connection_name="gh-main"), {"page": 2}))
    assert page2.count("ci@acme.test") == 10


def test_delete_preview_lists_a_blocking_ecr_connection_and_disables_delete(client_as, org, make_connection):
    aws = make_connection(org, "aws", name="aws-production", environments=("production",))
    make_connection(org, "ecr", name="ecr-main")
    ConnectionRole.objects.create(connection=aws, org=org, role_arn="arn:aws:iam::123456789012:role/Tf")
    client = client_as("admin")
    page = text(client.get(url("connection_delete", connection_name="aws-production")))
    assert "cannot be deleted while it is in use" in page
    assert "<code>ecr-main</code>" in page and "Blocks deletion" in page
    assert re.search(r'<button type="submit" class="button button-danger" disabled', page)
    for group in (
        "Terraform projects",
        "Connection roles",
        "FinOps cost records",
        "FinOps sync jobs",
        "Environment authorizations",
        "Usage history records",
    ):
        assert group in page, group
    response = client.post(url("connection_delete", connection_name="aws-production"))
    assert response.status_code == 200 and "cannot be deleted while in use" in text(response)
    assert Connection.objects.filter(name="aws-production").exists()

    response = client.post(url("connection_delete", connection_name="ecr-main"))
    assert response.status_code == 302 and response["Location"] == url("connection_list")
    page = text(client.get(url("connection_delete", connection_name="aws-production")))
    assert "Blocks deletion" not in page and "Deleted with it" in page
    response = client.post(url("connection_delete", connection_name="aws-production"), follow=True)
    assert "Connection “aws-production” deleted." in text(response)
    assert not Connection.objects.filter(org=org).exists()


def test_selection_explains_the_choice_or_the_error_word_for_word(client_as, org, make_connection):
    make_connection(org, "github", name="gh-dev", environments=("development",))
    client = client_as("viewer")
    page = text(client.get(url("environment_selection", env_slug="development"), {"provider": "github"}))
    assert "gh-dev" in page and "'gh-dev' is the github connection authorized for environment 'development'." in page
    page = text(client.get(url("environment_selection", env_slug="staging"), {"provider": "github"}))
    assert "Connection 'gh-dev' is not authorized for environment 'staging'" in page
    page = text(client.get(url("environment_selection", env_slug="staging"), {"provider": "aws"}))
    assert "No connection available for provider 'aws' in environment 'staging'" in page
    listing = text(client.get(url("connection_list")))
    assert f'href="{url("environment_selection", env_slug="staging")}"' in listing


# --- Connection roles --------------------------------------------------------------------------------


@pytest.fixture
def aws(org, members, make_connection, moto, settings):
    settings.PLATFORM_AWS_ACCOUNT_ID = MOTO_ACCOUNT_ID
    return make_connection(
        org, "aws", name="aws-prod", auth_method="assume_role", config={"account_id": MOTO_ACCOUNT_ID}
    )


def page(client, user, path="/o/acme/connections/aws-prod/"):
    client.force_login(user)
    return client.get(path)


def test_provisioner_adds_and_validates_a_role(client, members, aws):
    iam = boto3.client("iam", region_name="us-east-1")
    arn = create_iam_role(iam, "Deployer", trust_policy(aws.external_id))
    client.force_login(members["provisioner"])
    assert "Add role" in client.get("/o/acme/connections/aws-prod/").content.decode()
    response = client.post(
        "/o/acme/connections/aws-prod/roles/new/", {"name": "deploy", "role_arn": arn, "session_duration": 3600}
    )
    assert response.status_code == 302
    role = ConnectionRole.objects.get(connection=aws)
    assert role.status == "pending"
    response = client.post(f"/o/acme/connections/aws-prod/roles/{role.pk}/validate/", follow=True)
    role.refresh_from_db()
    assert role.status == "valid", role.validation_error
    assert "Valid" in response.content.decode()


def test_sloppy_trust_is_explained_on_the_page(client, members, aws):
    iam = boto3.client("iam", region_name="us-east-1")
    arn = create_iam_role(iam, "Sloppy", trust_policy(None))
    client.force_login(members["admin"])
    client.post("/o/acme/connections/aws-prod/roles/new/", {"role_arn": arn, "session_duration": 3600})
    role = ConnectionRole.objects.get(connection=aws)
    body = client.post(f"/o/acme/connections/aws-prod/roles/{role.pk}/validate/", follow=True).content.decode()
    role.refresh_from_db()
    assert role.status == "invalid" and "confused deputy" in role.validation_error
    assert "confused deputy" in body


def test_field_errors_on_the_form(client, members, aws):
    client.force_login(members["provisioner"])
    response = client.post(
        "/o/acme/connections/aws-prod/roles/new/", {"role_arn": "not-an-arn", "session_duration": 60}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "role_arn" in body and "900" in body
    assert not ConnectionRole.objects.exists()


@pytest.mark.parametrize("role_name", ["viewer", "user"])
def test_viewers_and_users_see_no_role_controls(client, members, aws, role_name):
    ConnectionRole.objects.create(
        connection=aws, org=aws.org, role_arn=f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/x", session_duration=3600
    )
    body = page(client, members[role_name]).content.decode()
    assert "Add role" not in body and "Validate</button>" not in body


ROLES_URL = CONNECTION + "roles/"


class TestRolePagesRoleTable(PermissionMatrix):
    """Adding, validating and removing connection roles on the pages: every role, another organization's
    connection and role (404, also under our own organization's URL), an outsider, anonymous; a refused
    request leaves the role pending and adds none. {conn} is aws-<org> (assume role, in moto's account)."""

    refused_before_lookup = frozenset({"role_id"})  # the role is looked up after the check on the connection
    cases = [
        Case.page("get", ROLES_URL + "new/", Action.MANAGE_ROLES),
        Case.page("post", ROLES_URL + "new/", Action.MANAGE_ROLES,
                  body={"role_arn": f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/Other", "session_duration": 3600}),
        Case.page("post", ROLES_URL + "{role_id}/validate/", Action.MANAGE_ROLES),
        Case.page("post", ROLES_URL + "{role_id}/delete/", Action.MANAGE_ROLES),
    ]  # fmt: skip

    @pytest.fixture(autouse=True)
    def _aws(self, moto, platform_in_moto_account) -> None:
        """The roles' IAM roles live in moto, and validation asks it."""

    def objects(self, org: Organization) -> dict[str, Any]:
        connection, role = create_aws_role_connection(org)
        return {"conn": connection.name, "role_id": role.pk}

    def snapshot(self, org: Organization) -> list[tuple]:
        return connections_state(org) + sorted(ConnectionRole.objects.filter(org=org).values_list("pk", "status"))


def test_roles_only_for_aws_and_azure(client, members, org, make_connection):
    make_connection(org, "github", name="gh-acme")
    client.force_login(members["admin"])
    assert client.get("/o/acme/connections/gh-acme/roles/new/").status_code == 404
    assert "Add role" not in client.get("/o/acme/connections/gh-acme/").content.decode()


def test_remove_role(client, members, aws):
    role = ConnectionRole.objects.create(
        connection=aws, org=aws.org, role_arn=f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/x", session_duration=3600
    )
    client.force_login(members["provisioner"])
    assert client.post(f"/o/acme/connections/aws-prod/roles/{role.pk}/delete/").status_code == 302
    assert not ConnectionRole.objects.exists()


# --- Pages stay the same size as the organization grows (issue 13) ----------------------------------


def _bulk_rows(org, count: int, prefix: str = "row") -> list[Connection]:
    """`count` GitHub connections in one insert (public fields only: the pages never read the secret), each
    authorized for the development environment, every other one with a role-like AWS sibling's role."""
    rows = Connection.objects.bulk_create(
        Connection(
            org=org,
            name=f"{prefix}-{i:04d}",
            provider="github",
            category="git",
            auth_method="pat",
            config={"base_url": "https://api.github.com", "organization": "acme"},
        )
        for i in range(count)
    )
    development = Environment.objects.get(org=org, slug="development")
    ConnectionAuthorization.objects.bulk_create(
        ConnectionAuthorization(org=org, connection=row, environment=development, provider="github") for row in rows
    )
    return rows


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_connections_page_queries_are_the_same_at_10_and_1000(client_as, org, members, role):
    """The page's aggregates are computed for its 24 rows: the same queries whatever the organization holds."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    client = client_as(role)
    _bulk_rows(org, 10)
    client.get(url("connection_list"))  # warm the per-process caches (content types) before counting
    with CaptureQueriesContext(db) as small:
        assert len(card_names(text(client.get(url("connection_list"))))) == 10
    _bulk_rows(org, 990, prefix="zz")
    with CaptureQueriesContext(db) as large:
        page = text(client.get(url("connection_list")))
    assert len(card_names(page)) == 24 and "Page 1 of 42" in page  # a page, not the lot
    assert len(large.captured_queries) == len(small.captured_queries) <= QUERY_BOUND
    # No aggregate over every connection: a GROUP BY only over the page's ids.
    assert all("IN (" in q["sql"] for q in large.captured_queries if "GROUP BY" in q["sql"])


def test_connections_page_counts_roles_of_its_own_cards(client_as, org, members, make_connection):
    aws = make_connection(org, "aws", name="aws-a")
    ConnectionRole.objects.bulk_create(
        ConnectionRole(connection=aws, org=org, role_arn=f"arn:aws:iam::123456789012:role/r{i}") for i in range(3)
    )
    make_connection(org, "aws", name="aws-b")
    page = text(client_as("viewer").get(url("connection_list")))
    cards = dict(re.findall(r'<h3 id="connection-[^"]+"><a [^>]*>([a-z0-9-]+)</a></h3>(.*?)</article>', page, re.S))
    assert re.findall(r"\d+ roles?\b", cards["aws-a"]) == ["3 roles"]
    assert re.findall(r"\d+ roles?\b", cards["aws-b"]) == []


def test_connections_page_paginator_counts_the_plain_queryset(client_as, org, members):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    _bulk_rows(org, 30)
    with CaptureQueriesContext(db) as ctx:
        page = text(client_as("viewer").get(url("connection_list"), {"page": 2}))
    assert "Page 2 of 2" in page and len(card_names(page)) == 6
    count = next(
        q["sql"] for q in ctx.captured_queries if "COUNT(*)" in q["sql"] and "connections_connection" in q["sql"]
    )
    assert "connectionrole" not in count and "GROUP BY" not in count


def _detail_rows(org, connection: Connection, count: int) -> None:
    """`count` environments the connection is authorized for, `count` roles and `count` connections borrowing it."""
    envs = Environment.objects.bulk_create(
        Environment(org=org, slug=f"x-{connection.name}-{i:04d}", name=f"X {i}") for i in range(count)
    )
    ConnectionAuthorization.objects.bulk_create(
        ConnectionAuthorization(org=org, connection=connection, environment=env, provider="aws") for env in envs
    )
    ConnectionRole.objects.bulk_create(
        ConnectionRole(org=org, connection=connection, name=f"role-{i:04d}",
                       role_arn=f"arn:aws:iam::123456789012:role/role-{i:04d}")
        for i in range(count)
    )  # fmt: skip
    Connection.objects.bulk_create(
        Connection(
            org=org,
            name=f"ecr-{connection.name}-{i:04d}",
            provider="ecr",
            category="registry",
            auth_method="cloud_connection",
            cloud_connection=connection,
            config={"region": "eu-west-1", "cloud_connection": connection.name},
        )
        for i in range(count)
    )


def test_detail_page_queries_and_size_do_not_grow(client_as, org, members, make_connection):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    small, large = make_connection(org, "aws", name="aws-small"), make_connection(org, "aws", name="aws-large")
    _detail_rows(org, small, 10)
    _detail_rows(org, large, 1000)
    client = client_as("admin")
    client.get(url("connection_detail", connection_name="aws-small"))  # warm the per-process caches
    sizes, counts = [], []
    for name in ("aws-small", "aws-large"):
        with CaptureQueriesContext(db) as ctx:
            response = client.get(url("connection_detail", connection_name=name))
        assert response.status_code == 200
        sizes.append(len(response.content))
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    # Was 1.3 MB at 1,000 authorizations and roles; now one page (20) of each against 10 of each.
    assert sizes[1] < sizes[0] * 2
    page = text(response)
    assert page.count('class="chip"') == 20 and page.count("role-0") == 10 * 2  # name + ARN per role row
    assert "Page 1 of 50" in page


def test_detail_sub_lists_page_separately(client_as, org, members, make_connection):
    conn = make_connection(org, "aws", name="aws-main")
    _detail_rows(org, conn, 45)
    client = client_as("admin")
    page = text(client.get(url("connection_detail", connection_name="aws-main"), {"roles_page": 3, "auth_page": 2}))
    assert "role-0020" in page and "role-0019" not in page and "role-0030" not in page  # roles 21-30
    assert ">x-aws-main-0020" in page and ">x-aws-main-0000" not in page  # environments 21-40
    links = [html.unescape(h) for h in re.findall(r'href="(\?[^"]*)"', page)]
    assert "?roles_page=2&auth_page=2#roles-heading" in links  # roles: Previous keeps the environments' page
    assert "?roles_page=3&auth_page=3#environments-heading" in links  # environments: Next keeps the roles' page
    assert "?roles_page=3&auth_page=2&dependents_page=2#dependents-heading" in links


@pytest.mark.parametrize("value", ["abc", "0", "-3", "99999", ""])
def test_detail_sub_list_bad_page_numbers_give_a_page(client_as, org, members, make_connection, value):
    conn = make_connection(org, "aws", name="aws-main")
    _detail_rows(org, conn, 25)
    response = client_as("viewer").get(
        url("connection_detail", connection_name="aws-main"), {"roles_page": value, "auth_page": value}
    )
    assert response.status_code == 200


def test_selection_page_lists_one_page_of_authorized_connections(client_as, org, members):
    _bulk_rows(org, 60)
    page = text(client_as("viewer").get(url("environment_selection", env_slug="development"), {"page": 2}))
    assert "Page 2 of 2" in page and "row-0059" in page and "row-0000" not in page


def test_environment_shortcuts_stop_at_24(client_as, org, members):
    Environment.objects.bulk_create(Environment(org=org, slug=f"e-{i:03d}", name=f"E {i:03d}") for i in range(100))
    page = text(client_as("viewer").get(url("connection_list")))
    assert page.count("selection</span></a></li>") == 24 and "All environments…" in page
