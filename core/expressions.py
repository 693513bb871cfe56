"""Query expressions the apps share."""

from __future__ import annotations

import json
import re
from typing import Any

from django.db.models import F, IntegerField, QuerySet, Subquery, TextField

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_MISSING = object()


def column_of(row: Any, name: str, default: Any = None) -> Any:
    """The value of annotation `name` on `row` when its query had it, else `default` (never a query: a model
    attribute of that name would be a field or a relation, read lazily)."""
    value = row.__dict__.get(name, _MISSING)
    return default if value is _MISSING else value


def json_rows_of(row: Any, name: str) -> list[list[Any]] | None:
    """The rows of a `JsonRows` column `name` read with `row`, or None when its query did not have it."""
    text = column_of(row, name)
    return None if text is None else json.loads(text)


class SubqueryCount(Subquery):
    """The number of rows of a correlated queryset, as a column of the outer query: `(SELECT COUNT(*) FROM
    (...))`, 0 when there are none. Unlike `.values(fk).annotate(Count(...))` it needs no GROUP BY and no
    second query, and PostgreSQL evaluates it only for the rows the outer query returns (a page, after its
    LIMIT), not for every row it scans.

        Connection.objects.annotate(role_count=SubqueryCount(ConnectionRole.objects.filter(connection=OuterRef("pk"))))
    """

    template = "(SELECT COUNT(*) FROM (%(subquery)s) _count)"
    output_field = IntegerField()

    def __init__(self, queryset: QuerySet, **extra: Any) -> None:
        # Only the primary key is read: the count needs no other column.
        super().__init__(queryset.order_by().values("pk"), **extra)


class JsonRows(Subquery):
    """The rows of a (correlated or not) queryset as one JSON text column of the outer query:
    `[[v1, v2, ...], ...]`, one array per row with the values of `columns` (name -> field path) in that order,
    rows ordered by the column `order`; `[]` when there are none. Read it back with `json.loads`.

    A page that shows a short list per row (a connection's environments), or beside its object (the
    organization's first environments, the user's organizations), gets it with the query it makes anyway
    instead of a query of its own. The queryset's own filters, ordering and slice apply first (a LIMIT keeps
    the list short); the aggregate orders again, since an aggregate does not keep a subquery's order.
    """

    output_field = TextField()

    def __init__(self, queryset: QuerySet, columns: dict[str, str], order: str) -> None:
        if order not in columns:
            raise ValueError(f"order {order!r} is not one of the columns {sorted(columns)}")
        if not all(_NAME.fullmatch(name) for name in columns):
            raise ValueError(f"column names are lowercase identifiers: {sorted(columns)}")
        self.aliases = [f"json_{name}" for name in columns]
        self.order_alias = f"json_{order}"
        rows = queryset.annotate(**{f"json_{name}": F(path) for name, path in columns.items()})
        super().__init__(rows.values(*self.aliases))

    def as_sql(self, compiler: Any, connection: Any, template: Any = None, **extra: Any) -> tuple[str, Any]:
        quote = connection.ops.quote_name
        values = ", ".join(f"_j.{quote(alias)}" for alias in self.aliases)
        template = (  # names checked in __init__ and quoted; values stay parameters of the subquery
            f"(SELECT COALESCE(json_agg(json_build_array({values}) ORDER BY _j.{quote(self.order_alias)}), "  # noqa: S608
            "'[]')::text FROM (%(subquery)s) _j)"
        )
        return super().as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        # SQLite's json_group_array follows the order of the rows it reads, ordered here.
        quote = connection.ops.quote_name
        values = ", ".join(f"_j.{quote(alias)}" for alias in self.aliases)
        order = quote(self.order_alias)  # names checked in __init__ and quoted
        rows = f"SELECT * FROM (%(subquery)s) ORDER BY {order}"  # noqa: S608
        template = f"(SELECT COALESCE(json_group_array(json_array({values})), '[]') FROM ({rows}) _j)"  # noqa: S608
        return super().as_sql(compiler, connection, template=template, **extra)
