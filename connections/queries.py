"""Query pieces the connections pages and the API share.

`GrantedEnvironments` puts a connection's authorized environments in the connection's own row, so a page of
connections (the connections page's cards, the API list) needs no second query and no model instances for
them; `granted(row)` reads that column back.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import F, OuterRef, Subquery, TextField

from .models import Connection, ConnectionAuthorization

GRANTED_COLUMN = "granted_environments"


class GrantedEnvironments(Subquery):
    """The environments a connection is authorized for, as JSON text `[["slug", "name"], ...]` ordered by slug:
    a column of the connection's own query, so a page of connections needs no second query for them."""

    output_field = TextField()

    def __init__(self) -> None:
        granted = (
            ConnectionAuthorization.objects.filter(connection_id=OuterRef("pk"))
            .annotate(env_slug=F("environment__slug"), env_name=F("environment__name"))
            .order_by()
            .values("env_slug", "env_name")
        )
        super().__init__(granted)

    def as_sql(self, compiler: Any, connection: Any, template: Any = None, **extra: Any) -> tuple[str, Any]:
        # json_agg with its own ORDER BY: the order of a subquery's rows is not kept by an aggregate.
        template = (
            "(SELECT COALESCE(json_agg(json_build_array(_g.env_slug, _g.env_name) ORDER BY _g.env_slug), "
            "'[]')::text FROM (%(subquery)s) _g)"
        )
        return super().as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        # SQLite's json_group_array follows the order of the rows it reads, ordered here.
        template = (
            "(SELECT COALESCE(json_group_array(json_array(_g.env_slug, _g.env_name)), '[]') "
            "FROM (SELECT * FROM (%(subquery)s) ORDER BY env_slug) _g)"
        )
        return super().as_sql(compiler, connection, template=template, **extra)


def has_granted(row: Connection) -> bool:
    """Whether `row` came from a query annotated with `GrantedEnvironments` under `GRANTED_COLUMN`."""
    return GRANTED_COLUMN in row.__dict__


def granted(row: Connection) -> list[tuple[str, str]]:
    """(slug, name) of the environments `row` is authorized for, ordered by slug, from its JSON column."""
    return [(slug, name) for slug, name in json.loads(row.__dict__[GRANTED_COLUMN])]


class EnvironmentRef:
    """Just what `advice.separation_warning` reads of an environment."""

    __slots__ = ("name", "slug")

    def __init__(self, slug: str, name: str) -> None:
        self.slug, self.name = slug, name
