"""Presentation helpers shared by every app's templates: form fields and JSON.

{% load ui_tags %}
{% form_field form.slug %}              label, input, help text and errors, wired with aria-describedby
{{ event.details|compact_json }}        one-line JSON for tables
{{ event.details|pretty_json }}         indented JSON for an expanded details cell
<a href="{% page_url 3 "roles_page" %}">  this URL's query with only `roles_page` replaced (pagination links)
{% time_element member.created_at "Y-m-d" %}  <time datetime="(ISO 8601)">2026-11-30</time> in the current time zone
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.forms import BoundField
from django.template.context import Context
from django.utils import dateformat
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import template_localtime

register = template.Library()


@register.inclusion_tag("includes/field.html")
def form_field(
    field: BoundField, hide_label: bool = False, css_class: str = "", optional_marker: bool = True
) -> dict[str, Any]:
    """One form field the accessible way; Django sets aria-describedby/aria-invalid on the widget and
    the template gives the help text and error list the ids it points to.

    `optional_marker=False` drops "(optional)" where every field is optional anyway (filter forms).
    """
    return {"field": field, "hide_label": hide_label, "css_class": css_class, "optional_marker": optional_marker}


@register.filter
def compact_json(value: Any) -> str:
    """Audit details as one short, stable line (sorted keys, no spaces) for a table cell."""
    if value in (None, "", {}, []):
        return ""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@register.filter
def pretty_json(value: Any) -> str:
    """Audit details indented, for reading once a row is expanded."""
    if value in (None, "", {}, []):
        return ""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, default=str)


@register.simple_tag(takes_context=True)
def page_url(context: Context, number: int, param: str = "page") -> str:
    """`?<query>` of the current request with `param` set to `number` and every other parameter kept.

    Filters and the other lists' page numbers stay in the link, so paging a filtered list, or one sub-list
    of a detail page, changes nothing else. The result is escaped like any variable (`&` -> `&amp;`).
    """
    query = context["request"].GET.copy()
    query[param] = str(number)
    return f"?{query.urlencode()}"


@register.simple_tag
def time_element(value: Any, fmt: str = "Y-m-d H:i") -> SafeString | str:
    """`<time datetime="{{ value|date:'c' }}">{{ value|date:fmt }}</time>` in one step ("" for None): the same
    markup (the current time zone, Django's format letters), for lists that repeat it on every row."""
    if value is None:
        return ""
    local = template_localtime(value)
    return format_html('<time datetime="{}">{}</time>', local.isoformat(), dateformat.format(local, fmt))
