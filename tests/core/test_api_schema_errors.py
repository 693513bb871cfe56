"""The API schema (core/api/schema.py): every operation documents the error answers it can give, in the one
error shape, and the token schema admits what responses contain (tests/test_api_schema_fuzz.py checks the
responses of every operation against it with schemathesis)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api):
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_every_operation_documents_the_common_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "404"} <= codes, (method, path)
            if method != "get":
                assert "503" in codes, (method, path)
            body = operation["responses"]["404"]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/ApiError"}, (method, path)
    assert "429" in schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]


def test_a_views_own_error_description_wins(schema):
    responses = schema["paths"]["/api/v1/orgs/{org_slug}/connections/"]["post"]["responses"]
    assert "plan_limit" in responses["403"]["description"]


def test_token_role_cap_may_be_empty(schema):
    role_cap = schema["components"]["schemas"]["APIToken"]["properties"]["role_cap"]
    refs = {option["$ref"] for option in role_cap["oneOf"]}
    assert refs == {"#/components/schemas/Role", "#/components/schemas/BlankEnum"}


def test_request_bodies_are_json_only(schema):
    for operations in schema["paths"].values():
        for operation in operations.values():
            if "requestBody" in operation:
                assert set(operation["requestBody"]["content"]) == {"application/json"}
