"""Helpers for serializers that build read-only responses as plain dicts.

DRF walks every declared field of every row (get_attribute, to_representation, the current time zone looked up
again for each datetime): about 1 ms per connection row. A list serializer can do that work once per page and
build each row's dict directly; the declared fields stay as they are, so the schema and the write path don't
change. Each such serializer has a test that compares its output with DRF's generic one, field for field.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from rest_framework import serializers

_FALLBACK = serializers.DateTimeField()


def current_timezone() -> dt.tzinfo:
    """The zone DRF's DateTimeField renders in (the current one), looked up once per page instead of per value."""
    return timezone.get_current_timezone()


def iso_datetime(value: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    """`DateTimeField().to_representation(value)`, for an aware datetime in `tz`, without its per-call lookups."""
    if value is None:
        return None
    if value.tzinfo is None:  # not what the database gives with USE_TZ; let DRF decide
        return _FALLBACK.to_representation(value)
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def text(value: Any) -> str | None:
    """`CharField().to_representation`: None stays None, anything else becomes a string."""
    return None if value is None else str(value)


class PageListSerializer(serializers.ListSerializer):
    """Lets the child prepare once for the whole page (`prepare_page(rows)`) before it renders each row."""

    def to_representation(self, data: Any) -> list[Any]:
        rows = list(data.all() if hasattr(data, "all") else data)
        self.child.prepare_page(rows)
        return [self.child.to_representation(row) for row in rows]
