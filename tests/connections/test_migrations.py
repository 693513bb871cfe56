"""connections 0005: today's authorizations (at most one per environment and provider) become the defaults."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("connections", "0004_finish_advice_reminders_and_role_advice")]
AFTER = [("connections", "0005_run_credentials_multi_account")]


def migrate(targets):
    """Connections at `targets`; every other app at its latest migration that does not need a later
    connections migration (so the models match the tables)."""
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    wanted = {node for target in targets for node in graph.forwards_plan(target)}
    later = {node for node in graph.nodes if node[0] == "connections" and node not in wanted}
    others = []
    for node in graph.leaf_nodes():
        while node is not None and node[0] != "connections" and later & set(graph.forwards_plan(node)):
            parents = [p.key for p in graph.node_map[node].parents if p.key[0] == node[0]]
            node = parents[0] if parents else None
        if node is not None and node[0] != "connections":
            others.append(node)
    executor.migrate([*others, *targets])
    executor = MigrationExecutor(connection)  # a fresh loader sees what is applied now
    return executor.loader.project_state([*others, *targets]).apps


def test_existing_authorizations_become_defaults():
    old = migrate(BEFORE)
    Organization = old.get_model("accounts", "Organization")
    Environment = old.get_model("accounts", "Environment")
    Connection = old.get_model("connections", "Connection")
    ConnectionAuthorization = old.get_model("connections", "ConnectionAuthorization")
    org = Organization.objects.create(slug="mig", name="Mig")
    prod = Environment.objects.create(org=org, slug="production", name="Production")
    dev = Environment.objects.create(org=org, slug="development", name="Development")
    aws = Connection.objects.create(org=org, name="aws-prod", provider="aws", category="cloud",
                                    auth_method="access_key")  # fmt: skip
    gh = Connection.objects.create(org=org, name="gh", provider="github", category="git", auth_method="oauth")
    for conn, env in ((aws, prod), (gh, prod), (gh, dev)):
        ConnectionAuthorization.objects.create(org=org, connection=conn, environment=env, provider=conn.provider)
    try:
        new = migrate(AFTER)
        rows = new.get_model("connections", "ConnectionAuthorization").objects.order_by("pk")
        assert [row.is_default for row in rows] == [True, True, True]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
