"""API pagination: keyset (cursor) pages for lists, page numbers only for computed reports.

Every list of rows (connections, audit events, members, environments, runs, cost records, ...) is paginated by
`StandardPagination`, a keyset pagination built on DRF's `CursorPagination`: a page is "the next `page_size`
rows after this row in this order", a WHERE on the ordering columns rather than an OFFSET, so page 40 costs what
page 1 costs, and rows added or removed while a client walks the list never make it skip or repeat one. The
answer is

    {"next": "<absolute URL or null>", "previous": "<absolute URL or null>", "results": [...]}

without a total `count`: counting 10,000 rows cost more than serializing the page, and a keyset walk does not
need it. Follow `next` until it is null.

The order is the view's (`?ordering=` where the view offers it, else its default), always completed by the
primary key so that the position is unique: DRF's own cursor kept only the first ordering column and an offset
among equal values, which grew with every page of equal values and could not represent NULL at all. Nullable
columns sort NULLs last in both directions (`last_used_at` of a never-used connection), on SQLite as on
PostgreSQL, and the keyset condition says so. The cursor (opaque, base64, made by DRF's encoder) holds the
ordering it was made for and the last row's values; a cursor that does not decode, belongs to another ordering,
or holds values that are not what the columns hold is a 400 on `cursor` (DRF answers 404 "Invalid cursor").

`ReportPagination` keeps page numbers (and `count`) for reports computed in full before paging (cost sums per
group, ordered by amount): there is no row to continue after. Both validate `page_size` the same way: one whole
number of at least 1 (larger than 500 gives 500); anything else (a word, a negative number, the parameter twice)
is a 400 on `page_size`, where DRF silently used the default, so a client's typo looked like success.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import F, Q, QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

_WHOLE_NUMBER = re.compile(r"[0-9]+")
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


class PageSizeMixin:
    """`page_size` as the schema says: one whole number >= 1, capped at 500; anything else is a 400."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        if len(values) != 1 or not _WHOLE_NUMBER.fullmatch(values[0]) or int(values[0]) < 1:
            raise ValidationError({self.page_size_query_param: [self.page_size_message()]})
        return min(int(values[0]), self.max_page_size)

    def page_size_message(self) -> str:
        return f"A whole number of at least 1 (at most {self.max_page_size} are returned)."

    def describe_page_size(self, parameter: dict[str, Any]) -> None:
        parameter["schema"] = {"type": "integer", "minimum": 1}
        parameter["description"] = (
            f"Results per page (default {self.page_size}; larger than {self.max_page_size} gives "
            f"{self.max_page_size}). Anything but one whole number of at least 1 is a 400."
        )


class ReportPagination(PageSizeMixin, PageNumberPagination):
    """Page numbers and a `count`, for reports computed in full before paging (see the module docstring)."""

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                self.describe_page_size(parameter)
            elif parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


@dataclass(frozen=True)
class Key:
    """One column of the keyset: its ORDER BY path, direction, model field, and whether it can be NULL."""

    path: str
    descending: bool
    field: models.Field
    nullable: bool

    @property
    def term(self) -> str:
        return f"-{self.path}" if self.descending else self.path

    @property
    def attname(self) -> str:
        """Where the row's value is read: the attribute for a local column, an annotation across relations."""
        return self.path if "__" not in self.path else "_keyset_" + self.path.replace("__", "_")

    def order_by(self, backwards: bool) -> Any:
        descending = self.descending != backwards
        expression = F(self.path)
        if not self.nullable:
            return expression.desc() if descending else expression.asc()
        # NULLs last when walking forwards in either direction; walking backwards reverses that.
        nulls = {"nulls_first": True} if backwards else {"nulls_last": True}
        return expression.desc(**nulls) if descending else expression.asc(**nulls)

    def beyond(self, value: Any, backwards: bool) -> Q | None:
        """Rows strictly after `value` in this column's order (before it when walking backwards); None: no row."""
        greater = self.descending == backwards
        if value is None:  # NULLs come last: nothing follows them, every non-NULL precedes them
            return Q(**{f"{self.path}__isnull": False}) if backwards else None
        condition = Q(**{f"{self.path}__{'gt' if greater else 'lt'}": value})
        if self.nullable and not backwards:
            condition |= Q(**{f"{self.path}__isnull": True})
        return condition

    def equal(self, value: Any) -> Q:
        return Q(**{f"{self.path}__isnull": True}) if value is None else Q(**{self.path: value})


def _resolve(model: type[models.Model], path: str) -> tuple[models.Field, bool] | None:
    """The model field at the end of `path` (across relations) and whether the column can be NULL there."""
    nullable = False
    field: Any = None
    for position, name in enumerate(path.split("__")):
        if field is not None:
            if not field.is_relation or field.related_model is None:
                return None
            model = field.related_model
        try:
            field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if field.many_to_many or field.one_to_many or (field.is_relation and position and field.auto_created):
            return None
        nullable = nullable or bool(getattr(field, "null", False))
    if field.is_relation:  # ordering by a foreign key orders by its column
        field = field.target_field
    return field, nullable


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


class StandardPagination(PageSizeMixin, CursorPagination):
    """Keyset pagination over the view's ordering plus the primary key (see the module docstring)."""

    cursor_query_param = "cursor"
    template = None
    invalid_cursor_message = "Not a cursor of this list: follow `next` or `previous` as given, or start without one."
    other_ordering_message = "This cursor was made for another `ordering`: start again without `cursor`."

    # --- ordering ---------------------------------------------------------------------------------

    def get_ordering(self, request: Request, queryset: QuerySet, view: Any) -> tuple[str, ...]:
        """Terms of the view's order: its ordering filter's (the `ordering` parameter or the view's default),
        else the queryset's own `order_by()`, else the model's Meta.ordering."""
        terms: Any = None
        for backend in getattr(view, "filter_backends", None) or ():
            if isinstance(backend, type) and issubclass(backend, OrderingFilter):
                terms = backend().get_ordering(request, queryset, view)
                break
        if not terms:
            terms = queryset.query.order_by or queryset.model._meta.ordering
        if any(not isinstance(term, str) for term in terms):
            raise ImproperlyConfigured(f"{type(view).__name__}: keyset pagination needs field names to order by.")
        return tuple(terms)

    def get_keys(self, request: Request, queryset: QuerySet, view: Any) -> list[Key]:
        keys: list[Key] = []
        model = queryset.model
        for term in self.get_ordering(request, queryset, view):
            path = term.lstrip("-")
            resolved = _resolve(model, model._meta.pk.name if path == "pk" else path)
            if resolved is None or any(key.path == path for key in keys):
                continue
            keys.append(Key(path, term.startswith("-"), resolved[0], resolved[1]))
        pk = model._meta.pk
        if not any(key.field is pk and "__" not in key.path for key in keys):  # the tie-breaker: a unique position
            keys.append(Key(pk.name, bool(keys) and keys[-1].descending, pk, False))
        return keys

    # --- cursors ----------------------------------------------------------------------------------

    def decode_cursor(self, request: Request) -> Cursor | None:
        values = request.query_params.getlist(self.cursor_query_param)
        if len(values) > 1:
            raise self.invalid_cursor()
        try:
            cursor = super().decode_cursor(request)
        except (NotFound, UnicodeError):
            raise self.invalid_cursor() from None
        if cursor is not None and cursor.position is None:
            raise self.invalid_cursor()
        return cursor

    def invalid_cursor(self, message: str | None = None) -> ValidationError:
        return ValidationError({self.cursor_query_param: [message or self.invalid_cursor_message]})

    def position_values(self, position: str) -> list[Any]:
        """The row values a cursor holds, checked against the columns: a forged cursor is a 400, never a
        database error (a NUL byte, an integer out of range, a date PostgreSQL cannot hold)."""
        try:
            data = json.loads(position)
        except ValueError:
            raise self.invalid_cursor() from None
        if not isinstance(data, dict) or not isinstance(data.get("v"), list):
            raise self.invalid_cursor()
        if data.get("o") != [key.term for key in self.keys]:
            raise self.invalid_cursor(self.other_ordering_message)
        if len(data["v"]) != len(self.keys):
            raise self.invalid_cursor()
        return [self.column_value(key, value) for key, value in zip(self.keys, data["v"], strict=True)]

    def column_value(self, key: Key, value: Any) -> Any:
        if value is None:
            if not key.nullable:
                raise self.invalid_cursor()
            return None
        if not isinstance(value, str | int | float | bool) or (isinstance(value, str) and "\x00" in value):
            raise self.invalid_cursor()
        try:
            python = key.field.to_python(value)
            key.field.run_validators(python)
            if isinstance(python, dt.datetime) and python.tzinfo is not None:
                python = python.astimezone(dt.UTC)  # PostgreSQL takes offsets up to ±15:59 only
        except (DjangoValidationError, OverflowError, ValueError, TypeError):
            raise self.invalid_cursor() from None
        return python

    def make_position(self, row: Any) -> str:
        values = [_json_value(getattr(row, key.attname)) for key in self.keys]
        return json.dumps({"o": [key.term for key in self.keys], "v": values}, separators=(",", ":"))

    # --- the page ---------------------------------------------------------------------------------

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list[Any]:
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.keys = self.get_keys(request, queryset, view)
        self.cursor = self.decode_cursor(request)
        backwards = bool(self.cursor and self.cursor.reverse)

        annotations = {key.attname: F(key.path) for key in self.keys if key.attname != key.path}
        if annotations:
            queryset = queryset.annotate(**annotations)
        queryset = queryset.order_by(*(key.order_by(backwards) for key in self.keys))
        if self.cursor is not None:
            queryset = queryset.filter(self.keyset_condition(self.position_values(self.cursor.position), backwards))

        rows = list(queryset[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if backwards:
            rows.reverse()
        self.page = rows
        self.has_next = more if not backwards else True
        self.has_previous = more if backwards else self.cursor is not None
        return rows

    def keyset_condition(self, values: list[Any], backwards: bool) -> Q:
        """Rows after (before) the position: for keys k1..kn, OR over i of (k1..k(i-1) equal and ki beyond).

        With a NOT NULL leading key it starts with `k1 >= v1` (`<=`), which PostgreSQL answers from an index
        range instead of testing every row against the OR."""
        branches: list[Q] = []
        for index, key in enumerate(self.keys):
            beyond = key.beyond(values[index], backwards)
            if beyond is not None:
                branch = beyond
                for earlier, value in zip(self.keys[:index], values[:index], strict=True):
                    branch &= earlier.equal(value)
                branches.append(branch)
        if not branches:
            return Q(pk__in=[])
        condition = branches[0]
        for branch in branches[1:]:
            condition |= branch
        first, value = self.keys[0], values[0]
        if not first.nullable and len(self.keys) > 1:
            greater = first.descending == backwards
            condition &= Q(**{f"{first.path}__{'gte' if greater else 'lte'}": value})
        return condition

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        if self.page:
            return self.encode_cursor(Cursor(offset=0, reverse=False, position=self.make_position(self.page[-1])))
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=self.cursor.position))

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if self.page:
            return self.encode_cursor(Cursor(offset=0, reverse=True, position=self.make_position(self.page[0])))
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=self.cursor.position))

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    # --- schema -----------------------------------------------------------------------------------

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        response = super().get_paginated_response_schema(schema)
        response["required"] = ["next", "previous", "results"]
        response["properties"]["next"]["description"] = (
            "Absolute URL of the next page (null on the last page). Follow it as given: it keeps your filters, "
            "`ordering` and `page_size`."
        )
        response["properties"]["previous"]["description"] = "Absolute URL of the previous page (null on the first)."
        for name in ("next", "previous"):
            response["properties"][name]["example"] = "https://platform.example/api/v1/...?cursor=eyJvIjpb..."
        return response

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                self.describe_page_size(parameter)
            elif parameter["name"] == self.cursor_query_param:
                parameter["description"] = (
                    "Opaque position from a `next` or `previous` link; omit it for the first page. A cursor that "
                    "is not one of this list's (or was made for another `ordering`) is a 400."
                )
        return parameters
