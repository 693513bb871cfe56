"""The OpenAPI document groups operations by resource and gives each a summary (core/api/schema.py)."""

from __future__ import annotations

import pytest
import yaml
from drf_spectacular.generators import SchemaGenerator

from core.api.tags import TAG_DESCRIPTIONS

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def operations(django_db_blocker) -> list[tuple[str, str, dict]]:
    with django_db_blocker.unblock():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    schema = yaml.safe_load(yaml.safe_dump(schema))
    return [(method, path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def test_no_operation_is_in_the_version_group(operations):
    assert all(op["tags"] != ["v1"] for _, _, op in operations)


def test_every_operation_has_a_summary_and_a_described_tag(operations):
    described = {tag["name"] for tag in TAG_DESCRIPTIONS}
    core_tags = {"account", "organizations", "connections", "roles", "environments", "members", "tokens", "audit"}
    seen = set()
    for method, path, op in operations:
        assert op.get("summary"), f"{method.upper()} {path} has no summary"
        seen.update(op["tags"])
    assert core_tags <= seen
    assert core_tags <= described


@pytest.mark.parametrize(
    ("method", "path", "tag", "summary"),
    [
        ("get", "/api/v1/orgs/{org_slug}/connections/", "connections", "List connections"),
        ("post", "/api/v1/orgs/{org_slug}/connections/{name}/test/", "connections",
         "Test a connection's credentials now"),
        ("post", "/api/v1/orgs/{org_slug}/connections/{name}/roles/{id}/validate/", "roles",
         "Validate a connection role's permissions now"),
        ("delete", "/api/v1/orgs/{org_slug}/tokens/{id}/", "tokens", "Revoke an API token"),
        ("get", "/api/v1/orgs/{org_slug}/audit/{id}/", "audit", "Get an audit event"),
        ("get", "/api/v1/orgs/{org_slug}/environments/{env_slug}/selection", "environments",
         "Which connection each provider uses in an environment"),
    ],
)
def test_operations_are_grouped_by_resource(operations, method, path, tag, summary):
    op = next(op for m, p, op in operations if (m, p) == (method, path))
    assert op["tags"] == [tag] and op["summary"] == summary
