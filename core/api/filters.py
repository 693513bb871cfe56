"""Filters shared by the API's filtersets, and the filter backend of every API list.

`IsoDateTimeFilter`: django-filter's ISO 8601 filter, with the value converted to UTC before it reaches the
database. Python accepts UTC offsets up to ±23:59 and PostgreSQL only up to ±15:59, so `?until=...+22:42` was a
database error (a 500, found by schemathesis); a value that leaves the representable range once converted (year
1 with a negative offset) is a field error too.

`FilterBackend`: django-filter's backend, except that a request with no filter parameter at all gets the
queryset as it is, without building the filterset (a deep copy of every declared filter, a form class and a
form per request: 2-3 ms of a list request that costs ~2x /api/v1/me in all). That is what the filterset would
answer: every filter leaves the queryset alone when its value is empty. A request with any parameter a filter
could read (one that starts with a filter's name, which covers range widgets' `_min`/`_after` suffixes) goes
through the filterset as before, with the same 400s. Filtersets for which "no parameter, no change" is not
certain (a required filter, an overridden `qs`, `filter_queryset`, `form` or `is_valid`) always do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from django_filters.filterset import BaseFilterSet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.request import Request


class UTCIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> datetime | None:
        try:
            parsed = super().to_python(value)
            return parsed.astimezone(UTC) if parsed is not None and parsed.tzinfo is not None else parsed
        except OverflowError as exc:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


# What must stay django-filter's own for "no parameter" to mean "no filter".
_FILTERSET_HOOKS = ("qs", "filter_queryset", "form", "get_form_class", "is_valid", "errors")


_PREFIXES: dict[type, tuple[str, ...] | None] = {}


def _filter_prefixes(filterset_class: type[BaseFilterSet]) -> tuple[str, ...] | None:
    """The names of the filterset's filters (the prefixes of the parameters they read), or None when the
    filterset must always run (see the module docstring). Computed once per class."""
    if filterset_class not in _PREFIXES:
        hooks_overridden = any(
            getattr(filterset_class, hook) is not getattr(BaseFilterSet, hook) for hook in _FILTERSET_HOOKS
        )
        required = any(f.extra.get("required") for f in filterset_class.base_filters.values())
        _PREFIXES[filterset_class] = None if hooks_overridden or required else tuple(filterset_class.base_filters)
    return _PREFIXES[filterset_class]


class FilterBackend(DjangoFilterBackend):
    """`DjangoFilterBackend` that skips the filterset when the request has no filter parameter (module docstring)."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        prefixes = _filter_prefixes(filterset_class)
        if prefixes is not None and not any(key.startswith(prefixes) for key in request.query_params):
            return queryset
        return super().filter_queryset(request, queryset, view)
