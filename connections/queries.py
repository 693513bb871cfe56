"""Query pieces the connections pages and the API share.

`granted_column` puts a connection's authorized environments in the connection's own row, so a page of
connections (the connections page's cards, the API list) needs no second query and no model instances for
them; `granted(row)` reads that column back.
"""

from __future__ import annotations

from django.db.models import OuterRef

from core.expressions import JsonRows, json_rows_of

from .models import Connection, ConnectionAuthorization

GRANTED_COLUMN = "granted_environments"


def granted_column() -> JsonRows:
    """The environments a connection is authorized for, as JSON text `[["slug", "name"], ...]` ordered by slug:
    a column of the connection's own query, so a page of connections needs no second query for them."""
    granted = ConnectionAuthorization.objects.filter(connection_id=OuterRef("pk")).order_by()
    return JsonRows(granted, {"slug": "environment__slug", "name": "environment__name"}, order="slug")


def granted(row: Connection) -> list[tuple[str, str]] | None:
    """(slug, name) of the environments `row` is authorized for, ordered by slug, from its JSON column (None
    when its query did not read it)."""
    rows = json_rows_of(row, GRANTED_COLUMN)
    return None if rows is None else [(slug, name) for slug, name in rows]


class EnvironmentRef:
    """An environment as lists of them read it from a JSON column: slug, name (what `advice.separation_warning`
    reads) and, where a page links it, its URL; equal to any environment with the same slug (one organization)."""

    __slots__ = ("name", "slug", "url")

    def __init__(self, slug: str, name: str) -> None:
        self.slug, self.name, self.url = slug, name, ""

    def __eq__(self, other: object) -> bool:
        return getattr(other, "slug", None) == self.slug

    def __hash__(self) -> int:
        return hash(self.slug)
