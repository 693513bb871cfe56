"""Keyset pagination of the API (core/api/pagination.py): 50 by default, page_size up to 500, cursors in
`next`/`previous`, a forged cursor is a 400 on `cursor`; cost sums keep page numbers (ReportPagination)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from accounts import services
from tests.pagination import walk

pytestmark = pytest.mark.django_db

ENVIRONMENTS = "/api/v1/orgs/acme/environments/"




def cursor_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["cursor"][0]


def forged(position: Any) -> str:
    """A cursor made by hand, as DRF's encoder makes them: base64 of `p=<position>`."""
    raw = position if isinstance(position, str) else json.dumps(position)
    return base64.b64encode(urlencode({"p": raw}).encode()).decode()


def with_cursor(query: str, cursor: str) -> str:
    return f"{ENVIRONMENTS}?{query}&{urlencode({'cursor': cursor})}"


@pytest.fixture
def many_environments(org):
    admin = org.memberships.get(role="admin").user
    for i in range(60):
        services.do_create_environment(org, actor=admin, slug=f"env-{i:02d}", name=f"Env {i % 7}")
    return org


def test_pagination_default_and_max(api_as, many_environments):
    client = api_as("admin")
    page = client.get(ENVIRONMENTS).json()
    assert len(page["results"]) == 50 and page["previous"] is None
    assert page["next"].startswith("http://testserver/api/v1/orgs/acme/environments/?cursor=")  # absolute
    assert "count" not in page
    assert len(client.get(ENVIRONMENTS + "?page_size=1000").json()["results"]) == 63
    second = client.get(page["next"]).json()
    assert len(second["results"]) == 13 and second["next"] is None and second["previous"]
    assert [e["slug"] for e in client.get(ENVIRONMENTS + "?q=env-0&ordering=-slug").json()["results"]][:2] == [
        "env-09",
        "env-08",
    ]


@pytest.mark.parametrize("ordering", ["slug", "-slug", "name", "-name", "created_at", "-created_at"])
def test_walking_every_page_forwards_and_back_gives_every_row_once(api_as, many_environments, ordering):
    client = api_as("admin")
    forwards = walk(client, f"{ENVIRONMENTS}?ordering={ordering}&page_size=7")
    whole = client.get(f"{ENVIRONMENTS}?ordering={ordering}&page_size=500").json()["results"]
    assert [e["slug"] for e in forwards] == [e["slug"] for e in whole]
    assert len({e["slug"] for e in forwards}) == 63
    # From the last page back to the first through `previous`: the same rows, in reverse.
    url = f"{ENVIRONMENTS}?ordering={ordering}&page_size=7"
    while (page := client.get(url).json())["next"]:
        url = page["next"]
    backwards = walk(client, url, link="previous")
    assert [e["slug"] for e in backwards] == [e["slug"] for e in reversed(whole)]


def test_links_keep_filters_ordering_and_page_size(api_as, many_environments):
    page = api_as("admin").get(ENVIRONMENTS + "?q=env-&ordering=-name&page_size=4").json()
    query = parse_qs(urlsplit(page["next"]).query)
    assert query["q"] == ["env-"] and query["ordering"] == ["-name"] and query["page_size"] == ["4"]


def test_rows_removed_or_added_while_walking_are_not_skipped_or_repeated(api_as, many_environments, org):
    client = api_as("admin")
    first = client.get(ENVIRONMENTS + "?ordering=slug&page_size=10").json()
    last_seen = first["results"][-1]["slug"]
    admin = org.memberships.get(role="admin").user
    # The row the cursor points at goes away, and one is added before the cursor: neither shifts the pages.
    services.do_delete_environment(org.environments.get(slug=last_seen), actor=admin)
    services.do_create_environment(org, actor=admin, slug="aaa-new", name="New")
    rest = walk(client, first["next"])
    seen = [e["slug"] for e in first["results"]] + [e["slug"] for e in rest]
    assert len(seen) == len(set(seen)) == 63
    assert "aaa-new" not in seen


@pytest.mark.parametrize(
    "query",
    ["page_size=abc", "page_size=0", "page_size=-5", "page_size=1&page_size=2", "page_size=%C2%B2", "page_size="],
)
def test_page_size_that_is_not_one_whole_number_is_a_400(api_as, org, query):
    response = api_as("admin").get(f"{ENVIRONMENTS}?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == ["page_size"]


def _bad_cursors(valid: str) -> list[tuple[str, str]]:
    decoded = base64.b64decode(valid).decode()
    position = json.loads(parse_qs(decoded)["p"][0])
    wrong_ordering = {**position, "o": ["-slug", "-id"]}
    return [
        ("not base64", "%%%"),
        ("base64 of nothing useful", base64.b64encode(b"hello").decode()),
        ("no position", base64.b64encode(b"o=1").decode()),
        ("position not JSON", forged("{not json")),
        ("position a list", forged([1, 2])),
        ("another ordering", forged(wrong_ordering)),
        ("too few values", forged({**position, "v": position["v"][:1]})),
        ("a value of the wrong type", forged({**position, "v": [position["v"][0], "not-a-number"]})),
        ("an id out of range", forged({**position, "v": [position["v"][0], 10**30]})),
        ("an object as value", forged({**position, "v": [{"a": 1}, 1]})),
        ("a NUL character", forged({**position, "v": ["a\x00b", 1]})),
        ("NULL in a NOT NULL column", forged({**position, "v": [None, 1]})),
        ("non-ASCII", "é"),
    ]


def test_forged_or_broken_cursors_are_a_400_on_cursor(api_as, many_environments):
    client = api_as("admin")
    valid = cursor_of(client.get(ENVIRONMENTS + "?ordering=slug&page_size=5").json()["next"])
    assert client.get(with_cursor("ordering=slug", valid)).status_code == 200
    twice = f"{ENVIRONMENTS}?{urlencode([('cursor', valid), ('cursor', valid)])}"
    cases = [(label, with_cursor("ordering=slug", cursor)) for label, cursor in _bad_cursors(valid)]
    for label, url in [*cases, ("twice", twice)]:
        response = client.get(url)
        assert response.status_code == 400, (label, response.status_code, response.content)
        error = response.json()["error"]
        assert list(error["fields"]) == ["cursor"], label
    other = client.get(with_cursor("ordering=-name", valid)).json()["error"]["fields"]["cursor"][0]
    assert "another `ordering`" in other


def test_forged_dates_in_a_cursor_are_a_400(api_as, many_environments):
    client = api_as("admin")
    valid = cursor_of(client.get(ENVIRONMENTS + "?ordering=created_at&page_size=5").json()["next"])
    position = json.loads(parse_qs(base64.b64decode(valid).decode())["p"][0])
    for value in ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-23:59", "yesterday", 12]:
        response = client.get(with_cursor("ordering=created_at", forged({**position, "v": [value, 1]})))
        assert response.status_code == 400, (value, response.content)
        assert list(response.json()["error"]["fields"]) == ["cursor"]
    # An offset far from UTC is a valid position (PostgreSQL would refuse +22:42 as such: it is converted).
    fine = forged({**position, "v": ["2020-01-01T00:00:00+22:42", 1]})
    assert client.get(with_cursor("ordering=created_at", fine)).status_code == 200


def test_schema_describes_the_cursor_envelope(api_as, org):
    schema = api_as("admin").get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/orgs/{org_slug}/environments/"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["page_size"]["schema"] == {"type": "integer", "minimum": 1}
    assert parameters["cursor"]["schema"]["type"] == "string" and "page" not in parameters
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    envelope = schema["components"]["schemas"][ref]
    assert set(envelope["properties"]) == {"next", "previous", "results"}
    assert set(envelope["required"]) == {"next", "previous", "results"}
    assert envelope["properties"]["next"]["format"] == "uri" and envelope["properties"]["next"]["nullable"]


def test_cost_sums_keep_page_numbers_and_count(api_as, org):
    schema = api_as("admin").get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/orgs/{org_slug}/costs/"]["get"]
    assert {"page", "page_size"} <= {p["name"] for p in operation["parameters"]}
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "count" in schema["components"]["schemas"][ref]["properties"]
    records = schema["paths"]["/api/v1/orgs/{org_slug}/costs/records/"]["get"]
    assert "cursor" in {p["name"] for p in records["parameters"]}
