"""Page-number pagination of the API (core/api/pagination.py): 50 by default, page_size up to 500."""

from __future__ import annotations

import pytest

from accounts import services

pytestmark = pytest.mark.django_db


def test_pagination_default_and_max(api_as, org, django_assert_max_num_queries):
    admin = org.memberships.get(role="admin").user
    for i in range(60):
        services.do_create_environment(org, actor=admin, slug=f"env-{i:02d}", name=f"Env {i}")
    client = api_as("admin")
    page = client.get("/api/v1/orgs/acme/environments/").json()
    assert page["count"] == 63 and len(page["results"]) == 50 and page["next"]
    assert len(client.get("/api/v1/orgs/acme/environments/?page_size=1000").json()["results"]) == 63
    assert len(client.get("/api/v1/orgs/acme/environments/?page_size=5&page=2").json()["results"]) == 5
    assert client.get("/api/v1/orgs/acme/environments/?page=99").status_code == 404
    assert [e["slug"] for e in client.get("/api/v1/orgs/acme/environments/?q=env-0&ordering=-slug").json()["results"]][
        :2
    ] == ["env-09", "env-08"]


@pytest.mark.parametrize(
    "query",
    ["page_size=abc", "page_size=0", "page_size=-5", "page_size=1&page_size=2", "page_size=%C2%B2", "page_size="],
)
def test_page_size_that_is_not_one_whole_number_is_a_400(api_as, org, query):
    response = api_as("admin").get(f"/api/v1/orgs/acme/environments/?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == ["page_size"]


def test_page_size_schema_matches_the_rule(api_as, org):
    schema = api_as("admin").get("/api/schema/?format=json").json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/orgs/{org_slug}/environments/"]["get"]["parameters"]}
    assert parameters["page_size"]["schema"] == {"type": "integer", "minimum": 1}
