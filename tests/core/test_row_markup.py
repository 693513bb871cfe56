"""Markup repeated on every row of a list page, made once per page (RowUrls) or in one step (time_element)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core.urls import RowUrls

# --- RowUrls ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "arg", "value"),
    [("environment_edit", "env_slug", "prod-eu_1"), ("member_role", "pk", 42), ("member_remove", "pk", 7)],
)
def test_row_urls_are_what_reverse_gives(route, arg, value):
    from django.urls import reverse

    assert RowUrls(route, arg, org_slug="acme")(value) == reverse(route, kwargs={"org_slug": "acme", arg: value})


def test_row_urls_fall_back_to_reverse_when_the_value_or_the_fixed_part_is_not_plain():
    from django.urls import NoReverseMatch, reverse

    urls = RowUrls("environment_edit", "env_slug", org_slug="acme")
    with pytest.raises(NoReverseMatch):  # the converter refuses it, as reverse() does
        urls("a/b")
    marker_in_slug = RowUrls("member_role", "pk", org_slug="org-8080808080808080")
    assert marker_in_slug(5) == reverse("member_role", kwargs={"org_slug": "org-8080808080808080", "pk": 5})


# --- time_element ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/St_Johns"])
@pytest.mark.parametrize("fmt", ["Y-m-d", "Y-m-d H:i", "Y-m-d H:i:s"])
def test_time_element_is_the_markup_of_the_date_filter(zone, fmt):
    from django.template import Context, Template

    value = dt.datetime(2026, 11, 30, 23, 45, 12, tzinfo=dt.UTC)
    with timezone.override(zone):
        filters = Template(f'<time datetime="{{{{ v|date:\'c\' }}}}">{{{{ v|date:"{fmt}" }}}}</time>')
        tag = Template(f'{{% load ui_tags %}}{{% time_element v "{fmt}" %}}')
        assert tag.render(Context({"v": value})) == filters.render(Context({"v": value}))
    assert Template('{% load ui_tags %}{% time_element v %}').render(Context({"v": None})) == ""
