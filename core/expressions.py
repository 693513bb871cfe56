"""Query expressions the apps share."""

from __future__ import annotations

from typing import Any

from django.db.models import IntegerField, QuerySet, Subquery


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
