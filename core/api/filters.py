"""Filters shared by the API's filtersets.

`IsoDateTimeFilter`: django-filter's ISO 8601 filter, with the value converted to UTC before it reaches the
database. Python accepts UTC offsets up to ±23:59 and PostgreSQL only up to ±15:59, so `?until=...+22:42` was a
database error (a 500, found by schemathesis); a value that leaves the representable range once converted (year
1 with a negative offset) is a field error too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField


class UTCIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> datetime | None:
        try:
            parsed = super().to_python(value)
            return parsed.astimezone(UTC) if parsed is not None and parsed.tzinfo is not None else parsed
        except OverflowError as exc:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField
