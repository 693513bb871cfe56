"""Walking an API list by its cursor links, shared by the pagination tests of every app."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient


def walk(client: APIClient, url: str, link: str = "next") -> list[dict[str, Any]]:
    """Every page from `url` on, following `link`; the rows in the order the pages give them (each page must
    be a 200 with exactly the cursor envelope)."""
    rows: list[dict[str, Any]] = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        page = response.json()
        assert set(page) == {"next", "previous", "results"}
        rows.extend(page["results"] if link == "next" else reversed(page["results"]))
        url = page[link]
    return rows
