"""A stored secret cannot be sent somewhere new.

The attack: an admin (or anyone who can edit a connection) points a Kubernetes connection's endpoint
and CA at a host they control, presses Test (or waits for the hourly sweep), and receives the stored
token. Every change to where a secret goes must carry the secret again; and whatever path changed the
config (API, page, admin, SQL), the secret is never released to a destination it was not entered for.
The attacker's host here is a real TLS listener that records every request: it must receive nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.exceptions import ValidationError

from connections import services
from connections.models import Connection
from connections.tasks import check_connections_chunk
from connections.verification import run_check
from tests.fakes.kubernetes import KubernetesFake

pytestmark = pytest.mark.django_db

TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.the-stored-token-CANARY"
NEW_TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.typed-again-for-the-new-host"


@pytest.fixture(autouse=True)
def loopback(settings) -> None:
    settings.NETGUARD_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def cluster() -> Iterator[KubernetesFake]:
    with KubernetesFake(TOKEN) as fake:
        yield fake


@pytest.fixture
def attacker() -> Iterator[KubernetesFake]:
    """The host an attacker would point the connection at: it accepts any token and records it."""
    with KubernetesFake(NEW_TOKEN) as fake:
        yield fake


@pytest.fixture
def k8s(org, members, make_connection, cluster) -> Connection:
    return make_connection(
        org,
        "kubernetes",
        name="prod-cluster",
        auth_method="token",
        config={"endpoint": cluster.url, "ca_data": cluster.ca_pem},
        secrets={"token": TOKEN},
    )


def received_tokens(fake: KubernetesFake) -> list[str]:
    return [r.headers.get("Authorization", "") for r in fake.requests]


def test_moving_the_endpoint_without_the_secret_is_refused(k8s, members, attacker):
    with pytest.raises(ValidationError) as caught:
        services.do_update_connection(
            k8s, actor=members["admin"], config={"endpoint": attacker.url, "ca_data": attacker.ca_pem}
        )
    assert caught.value.message_dict == {
        "secrets.token": [
            "Enter it again: changing the API server URL, Cluster CA certificate would send the stored secret "
            "to a new destination."
        ]
    }
    k8s.refresh_from_db()
    assert k8s.config["endpoint"] != attacker.url


@pytest.mark.parametrize("field", ["endpoint", "ca_data"])
def test_each_destination_field_alone_needs_the_secret(k8s, members, attacker, field):
    change = {"endpoint": attacker.url} if field == "endpoint" else {"ca_data": attacker.ca_pem}
    with pytest.raises(ValidationError) as caught:
        services.do_update_connection(k8s, actor=members["admin"], config=change)
    assert "secrets.token" in caught.value.message_dict


def test_the_api_refuses_the_redirect_and_the_listener_receives_nothing(k8s, api_as, members, attacker, cluster):
    url = f"/api/v1/orgs/acme/connections/{k8s.name}/"
    response = api_as("admin").patch(
        url, {"config": {"endpoint": attacker.url, "ca_data": attacker.ca_pem}}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["secrets.token"]
    run_check(k8s, actor=members["user"])
    check_connections_chunk([str(k8s.pk)])
    assert attacker.requests == [] and attacker.tls_failures == []
    assert received_tokens(cluster) == [f"Bearer {TOKEN}", f"Bearer {TOKEN}"]  # still the real cluster


def test_a_config_changed_behind_the_services_back_releases_no_secret(k8s, members, attacker):
    """Admin site, a migration or raw SQL: whatever moved the endpoint, Test and the sweep send nothing."""
    Connection.objects.filter(pk=k8s.pk).update(
        config={**k8s.config, "endpoint": attacker.url, "ca_data": attacker.ca_pem}
    )
    outcome = run_check(Connection.objects.get(pk=k8s.pk), actor=members["user"])
    check_connections_chunk([str(k8s.pk)])
    assert not outcome.ok
    assert "changed since its credentials were entered" in outcome.message
    assert attacker.requests == [] and attacker.tls_failures == []


def test_positive_control_moving_with_the_secret_works_and_sends_only_the_new_one(k8s, members, attacker, api_as):
    url = f"/api/v1/orgs/acme/connections/{k8s.name}/"
    response = api_as("admin").patch(
        url,
        {"config": {"endpoint": attacker.url, "ca_data": attacker.ca_pem}, "secrets": {"token": NEW_TOKEN}},
        format="json",
    )
    assert response.status_code == 200, response.content
    outcome = run_check(Connection.objects.get(pk=k8s.pk), actor=members["user"])
    assert outcome.ok, outcome.message
    assert received_tokens(attacker) == [f"Bearer {NEW_TOKEN}"]  # the listener works; the old token never went


def test_secrets_without_a_new_destination_belong_to_rotate(k8s, members):
    with pytest.raises(ValidationError) as caught:
        services.do_update_connection(k8s, actor=members["admin"], config={}, secrets={"token": NEW_TOKEN})
    assert "rotate" in caught.value.message_dict["secrets"][0]


def test_the_edit_page_asks_for_the_secret_when_the_endpoint_moves(k8s, client, members, attacker):
    client.force_login(members["admin"])
    url = f"/o/acme/connections/{k8s.name}/edit/"
    page = client.get(url).content.decode()
    assert 'name="token"' in page and "type it again to confirm the destination" in page
    form = {"name": k8s.name, "description": "", "endpoint": attacker.url, "ca_data": attacker.ca_pem}
    refused = client.post(url, form)
    assert refused.status_code == 200
    assert "would send the stored secret to a new destination" in refused.content.decode()
    moved = client.post(url, {**form, "token": NEW_TOKEN})
    assert moved.status_code == 302
    assert Connection.objects.get(pk=k8s.pk).config["endpoint"] == attacker.url
