"""Canary test: one connection per provider and auth method with unique secret values, then every
API endpoint, every page, the admin list and change pages, the captured logs and a raw read of the
database are searched. No canary may appear anywhere; the ciphertext column holds none."""

from __future__ import annotations

import json
import logging
import re
import secrets as pysecrets
import uuid

import pytest
import yaml
from django.db import connection as db
from django.urls import reverse

from accounts.models import AuditEvent
from connections import services
from connections.models import Connection
from connections.runtime import use_credentials
from tests.connections.provider_examples import valid_examples

pytestmark = pytest.mark.django_db

REFERENCED = {
    "ecr": "aws-production",
    "s3_backend": "aws-production",
    "gcr": "gcp-production",
    "gcs_backend": "gcp-production",
}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def canary_value(value: str) -> str:
    """A fresh value of the same shape: new UUIDs, or the last 12 characters replaced by random hex."""
    if UUID_RE.match(value):
        return str(uuid.uuid4())
    if "\n" in value or value.lstrip().startswith("{") or len(value) < 16:
        return value  # generated key material is unique per run already
    return value[:-12] + pysecrets.token_hex(6)


def needles(value: str) -> list[str]:
    """The parts of a secret that must never be seen: the value, or the secret lines inside it."""
    text = value.strip()
    if text.startswith("{"):
        data = json.loads(text)
        return [*needles(data["private_key"]), data["private_key_id"]]
    if "-----BEGIN" in text:
        return [line for line in text.splitlines() if len(line) >= 20 and not line.startswith("-----")]
    if "\n" in text:
        config = yaml.safe_load(text)
        found: list[str] = []
        for user in config.get("users", []):
            for key in ("token", "client-key-data", "password"):
                if user["user"].get(key):
                    found.append(user["user"][key])
        return found
    return [text]


@pytest.fixture
def fleet(org, members):
    """Every provider and auth method, each with unique secret values; returns the needles."""
    admin = members["admin"]
    all_needles: list[str] = []
    examples = valid_examples()
    order = sorted(examples, key=lambda p: p in REFERENCED)  # referenced clouds first
    for provider in order:
        for index, (method, (config, secrets)) in enumerate(examples[provider].items()):
            fresh = {k: canary_value(v) for k, v in secrets.items()}
            name = f"{provider.replace('_', '-')}-{method.replace('_', '-')}"
            if (provider, method) in (("aws", "access_key"), ("gcp", "service_account_key")):
                name = f"{provider}-production"  # the name the registry/backends examples refer to
            services.do_create_connection(
                org,
                actor=admin,
                name=name,
                provider=provider,
                auth_method=method,
                config=config,
                secrets=fresh,
                environments=["development"] if index == 0 else [],
            )
            for value in fresh.values():
                all_needles.extend(needles(value))
    # A rotation adds a second generation of canaries.
    github = Connection.objects.get(org=org, name="github-pat")
    rotated = "github_pat_11ABCDEFG0123456789_" + pysecrets.token_hex(30)
    services.do_rotate_credentials(github, actor=admin, secrets={"token": rotated})
    all_needles.append(rotated)
    assert Connection.objects.filter(org=org).count() == sum(len(m) for m in examples.values())
    assert all(len(n) >= 16 for n in all_needles), "every needle must be distinctive"
    return all_needles


def assert_clean(text: str, canaries: list[str], where: str) -> None:
    found = [c[:12] + "…" for c in canaries if c in text]
    assert not found, f"secret material found in {where}: {found}"


def _page_urls(org_slug: str, names: list[str]) -> list[str]:
    """Every page that shows connections or their traces (all must exist: a missing one fails)."""
    urls = [
        f"/o/{org_slug}/",
        f"/o/{org_slug}/audit/",
        f"/o/{org_slug}/environments/",
        reverse("connection_list", kwargs={"org_slug": org_slug}),
    ]
    for provider in valid_examples():
        urls.append(
            reverse("environment_selection", kwargs={"org_slug": org_slug, "env_slug": "development"})
            + f"?provider={provider}"
        )
    for name in names:
        for url_name in (
            "connection_detail",
            "connection_edit",
            "connection_rotate",
            "connection_authorizations",
            "connection_usage",
            "connection_delete",
        ):
            urls.append(reverse(url_name, kwargs={"org_slug": org_slug, "connection_name": name}))
    for provider in valid_examples():
        urls.append(reverse("connection_create", kwargs={"org_slug": org_slug, "provider": provider}))
    return urls


def test_no_canary_anywhere(fleet, org, members, api_as, client, admin_client, caplog):
    canaries = fleet
    names = list(Connection.objects.filter(org=org).values_list("name", flat=True))
    caplog.set_level(logging.DEBUG)

    # Use every connection once (the only path that decrypts), logging the values deliberately.
    log = logging.getLogger("tests.canary")
    for conn in Connection.objects.filter(org=org):
        with use_credentials(conn, actor=members["admin"], purpose="canary") as creds:
            log.info("credentials for %s: %s", conn.name, creds.secrets)
            log.warning("materialized env: %s", creds.materialize().env)
            try:
                raise RuntimeError(f"simulated failure with {creds.secrets}")
            except RuntimeError:
                log.exception("run failed")

    # API: every endpoint that shows connections or their traces.
    api = api_as("admin")
    paths = [
        "/api/v1/orgs/acme/connections/?page_size=500",
        "/api/v1/providers/",
        "/api/v1/me",
        "/api/v1/orgs/acme/audit/?page_size=500",
        "/api/schema/",
    ]
    for name in names:
        base = f"/api/v1/orgs/acme/connections/{name}/"
        paths += [base, base + "authorizations/", base + "usage/", base + "preview-delete/"]
    for provider in valid_examples():
        paths.append(f"/api/v1/orgs/acme/environments/development/selection?provider={provider}")
    for path in paths:
        response = api.get(path)
        assert response.status_code in (200, 422), (path, response.status_code)
        assert_clean(response.content.decode(), canaries, path)
    rotate = api.post(
        "/api/v1/orgs/acme/connections/github-oauth/rotate/",
        {"secrets": {"token": "gho_" + pysecrets.token_hex(18)}},
        format="json",
    )
    assert rotate.status_code == 200
    canaries = [*canaries, json.loads(rotate.wsgi_request.body)["secrets"]["token"]]
    assert_clean(rotate.content.decode(), canaries, "rotate response")

    # Pages, as admin (who sees the most).
    client.force_login(members["admin"])
    for url in _page_urls("acme", names):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert_clean(response.content.decode(), canaries, url)

    # Django admin: list and change pages.
    admin_pages = [
        "/admin/connections/connection/",
        "/admin/connections/connectionauthorization/",
        "/admin/connections/connectionusage/",
        "/admin/accounts/auditevent/",
    ]
    admin_pages += [
        f"/admin/connections/connection/{pk}/change/" for pk in Connection.objects.values_list("pk", flat=True)
    ]
    admin_pages += [
        f"/admin/accounts/auditevent/{pk}/change/" for pk in AuditEvent.objects.values_list("pk", flat=True)[:200]
    ]
    for url in admin_pages:
        response = admin_client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert_clean(response.content.decode(), canaries, url)

    # Logs captured during everything above.
    assert_clean(caplog.text, canaries, "captured logs")
    assert "[masked]" in caplog.text

    # Raw database: every table of our apps, every column.
    tables = [t for t in db.introspection.table_names() if t.split("_")[0] in ("accounts", "connections", "identity")]
    for table in tables:
        with db.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")
            dump = "\n".join(repr(row) for row in cursor.fetchall())
        assert_clean(dump, canaries, f"table {table}")
    with db.cursor() as cursor:
        cursor.execute("SELECT secrets_envelope FROM connections_connection WHERE secrets_envelope <> ''")
        envelopes = [row[0] for row in cursor.fetchall()]
    assert envelopes and all(e.startswith("v1:") for e in envelopes)


def test_masked_placeholder_never_overwrites(org, members, api_as, make_connection):
    conn = make_connection(org, "github", name="gh-keep", auth_method="pat")
    before = dict(conn.secret_fingerprints)
    for placeholder in ("***", "••••", "[masked]", "<redacted>"):
        response = api_as("admin").post(
            "/api/v1/orgs/acme/connections/gh-keep/rotate/", {"secrets": {"token": placeholder}}, format="json"
        )
        assert response.status_code == 400
    conn.refresh_from_db()
    assert conn.secret_fingerprints == before
    with use_credentials(conn, actor=members["admin"]) as creds:
        assert creds.secrets["token"] == valid_examples()["github"]["pat"][1]["token"]
