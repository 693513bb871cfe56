"""Trailing slashes (core.middleware.CommonMiddleware): a state-changing request to a path that exists only with
a slash is a clear 404 naming the right path, with DEBUG on (Django raised RuntimeError: a 500) and off (Django
redirected, losing the method's body); GET still redirects."""

from __future__ import annotations

import pytest

from accounts.models import Environment

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.mark.parametrize("method", ["DELETE", "POST", "PUT", "PATCH"])
def test_api_write_without_trailing_slash_is_a_json_404(api_as, org, debug, method):
    client = api_as("admin")
    client.raise_request_exception = True  # a RuntimeError would fail the test, not become a 500 page
    response = client.generic(method, "/api/v1/orgs/acme/environments/staging", "{}", content_type="application/json")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["message"].endswith("/api/v1/orgs/acme/environments/staging/")
    assert Environment.objects.filter(org=org, slug="staging").exists()


def test_unauthenticated_delete_without_slash_is_a_404(api, org, debug):
    response = api.delete("/api/v1/orgs/acme/environments/staging")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_page_post_without_trailing_slash_is_a_404_page(client, org, debug):
    client.raise_request_exception = True
    response = client.post("/login", {"username": "x"})
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_get_without_trailing_slash_still_redirects(api_as, org, debug):
    response = api_as("admin").get("/api/v1/orgs/acme/environments")
    assert response.status_code == 301 and response["Location"].endswith("/api/v1/orgs/acme/environments/")


def test_unknown_path_is_still_a_plain_404(api_as, org, debug):
    response = api_as("admin").delete("/api/v1/nothing-here")
    assert response.status_code == 404
    if not debug:  # with DEBUG on, Django shows its technical 404 page instead of handler404
        assert response.json()["error"]["message"] == "Not found."
