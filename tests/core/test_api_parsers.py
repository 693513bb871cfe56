"""The API's JSON parser (core/api/parsers.py): a body nested deeper than API_JSON_MAX_DEPTH is a 400 in the
API's error shape, never a RecursionError (a 500), whoever sends it."""

from __future__ import annotations

import pytest

from accounts.models import Environment
from core.api.parsers import json_depth

pytestmark = pytest.mark.django_db


def nested(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('"[[[["', 0),
        ('{"a": [1, {"b": "]]]"}]}', 3),
        ('{"a": "\\"[[["}', 1),
        (nested(1000), 1000),
        ("]]]][", 1),
    ],
)
def test_depth_is_counted_without_recursion_and_ignores_strings(text, depth):
    assert json_depth(text) == depth


def test_unauthenticated_deep_body_is_a_400_not_a_500(api, org):
    body = '{"email": ' + nested(1000) + "}"
    response = api.generic("POST", "/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "parse_error" and "deeper than 32" in error["message"]


@pytest.mark.parametrize("levels", [100, 1000, 100_000])
def test_authenticated_deep_body_is_a_400(api_as, org, levels):
    body = '{"slug": "qa", "name": ' + nested(levels, '"x"') + "}"
    response = api_as("admin").generic("POST", "/api/v1/orgs/acme/environments/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert not Environment.objects.filter(org=org, slug="qa").exists()


def test_depth_within_the_limit_parses_normally(api_as, org, settings):
    settings.API_JSON_MAX_DEPTH = 3
    ok = api_as("admin").generic(
        "POST", "/api/v1/orgs/acme/environments/", '{"slug": "qa", "name": "QA"}', content_type="application/json"
    )
    assert ok.status_code == 201
    deep = api_as("admin").generic(
        "POST", "/api/v1/orgs/acme/environments/", '{"slug": "q2", "name": [[["x"]]]}', content_type="application/json"
    )
    assert deep.status_code == 400 and "deeper than 3" in deep.json()["error"]["message"]


def test_a_decoder_recursion_error_is_still_a_400(api_as, org, settings, monkeypatch):
    """Second line of defence: should the decoder recurse past Python's limit anyway, it is a parse error."""
    settings.API_JSON_MAX_DEPTH = 10**9
    response = api_as("admin").generic(
        "POST", "/api/v1/orgs/acme/environments/", '{"slug": ' + nested(100_000) + "}", content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "parse_error"


def test_invalid_utf8_is_a_400(api_as, org):
    response = api_as("admin").generic(
        "POST", "/api/v1/orgs/acme/environments/", b'{"slug": "\xff"}', content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "parse_error"


def test_the_api_reads_json_only(api_as, org):
    """Form and multipart bodies are a 415: a garbled multipart body was read as an empty (successful) PATCH."""
    response = api_as("admin").generic(
        "POST", "/api/v1/orgs/acme/environments/", "slug=qa&name=QA", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
    assert not Environment.objects.filter(org=org, slug="qa").exists()


def test_depth_scan_is_linear_on_unterminated_strings():
    """Escaped quotes outside a string made a regex-based scan quadratic; this must finish at once."""
    import time

    text = '\\"' * 200_000
    started = time.monotonic()
    json_depth(text)
    json_depth("[" * 1_000_000, stop_above=32)
    assert time.monotonic() - started < 2
