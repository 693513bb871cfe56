"""core.fragments: rendered HTML cached under a hash of what it shows, per process."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import caches
from django.template.loader import render_to_string
from django.utils import timezone

from core import fragments

CARD = "connections/_connection_card.html"


def card(**changes):
    values = {
        "pk": "c1", "name": "aws-main", "url": "/o/acme/connections/aws-main/", "icon": "<svg></svg>",
        "provider_label": "Amazon Web Services", "auth_label": "Access keys", "status": "active",
        "status_label": "Active", "badges": [], "facts": [("Region", "eu-west-1")], "environments": ["dev"],
        "check_error": "", "separation_warning": "", "health": "healthy", "health_label": "Healthy",
        "last_checked_at": dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC), "last_used_at": None,
        "linked_counts": [], "role_count": 2, "rotation_overdue": False,
    }  # fmt: skip
    return {**values, **changes}


@pytest.fixture(autouse=True)
def empty_cache():
    caches[fragments.CACHE_ALIAS].clear()
    yield
    caches[fragments.CACHE_ALIAS].clear()


def test_a_fragment_is_the_bytes_a_fresh_render_gives_and_is_kept():
    context = card()
    [first] = fragments.render_fragments(CARD, [context])
    assert first == render_to_string(CARD, context)
    key = fragments.fragment_key(f"{CARD}:{fragments.template_fingerprint(CARD)}", context)
    assert caches[fragments.CACHE_ALIAS].get(key) == first
    [again] = fragments.render_fragments(CARD, [card()])
    assert again == first


def test_any_change_to_what_it_shows_is_a_new_render(monkeypatch):
    fragments.render_fragments(CARD, [card()])
    renders = []
    monkeypatch.setattr(fragments, "render_to_string", lambda name, context: renders.append(context) or "x")
    for changed in (card(health="unhealthy", health_label="Unhealthy"), card(role_count=3),
                    card(environments=["dev", "prod"]), card(last_used_at=timezone.now())):  # fmt: skip
        fragments.render_fragments(CARD, [changed])
    assert len(renders) == 4
    fragments.render_fragments(CARD, [card()])  # unchanged: from the cache
    assert len(renders) == 4


def test_one_render_per_distinct_context_in_a_page(monkeypatch):
    renders = []
    monkeypatch.setattr(fragments, "render_to_string", lambda name, context: renders.append(1) or str(context["pk"]))
    html = fragments.render_fragments(CARD, [card(pk="a"), card(pk="b"), card(pk="a")])
    assert html == ["a", "b", "a"] and len(renders) == 2


def test_the_time_zone_is_part_of_the_key():
    context = card()
    utc = fragments.render_fragments(CARD, [context])[0]
    with timezone.override("Asia/Tokyo"):
        tokyo = fragments.render_fragments(CARD, [context])[0]
    assert "2026-01-02 03:04" in utc and "2026-01-02 12:04" in tokyo


def test_a_context_with_anything_but_plain_values_is_refused():
    with pytest.raises(TypeError, match="plain values only"):
        fragments.render_fragments(CARD, [card(name=object())])


def test_with_debug_on_nothing_is_cached(settings):
    settings.DEBUG = True
    fragments.render_fragments(CARD, [card()])
    assert not caches[fragments.CACHE_ALIAS]._cache  # locmem's own store: nothing went in


def test_the_text_is_escaped_like_any_template_variable():
    [html] = fragments.render_fragments(CARD, [card(name="<script>x</script>")])
    assert "<script>x" not in html and "&lt;script&gt;x" in html
