"""Rendered template fragments kept in a per-process cache, keyed by a hash of exactly what they show.

A page that repeats one partial many times (the connections page's cards) spends most of its time in the
template engine, rendering the same HTML for rows that have not changed since the last view. Here the key
IS the content: the partial is rendered from a context of plain values only (str, int, bool, None, lists,
dicts, dates), and the key is a SHA-256 of that context, the partial's name and source and the active time
zone. So nothing has to invalidate an entry: any change to what a fragment shows is a different key, and a
cached fragment is the HTML its key's values render to (the same bytes a fresh render gives).

The cache is the `fragments` alias: local memory of each process (bounded by FRAGMENT_CACHE_ENTRIES, a day
at most), not the shared `default` cache, because what a key does not cover is the code: a deploy starts new
processes, so HTML rendered by an older release is never served. It is also why nothing in a fragment may
depend on the viewer: no CSRF token, no per-user control (the cards and the "Add a connection" section show
the same to everyone who may see them). With DEBUG on, fragments are rendered every time, so editing a
partial under `runserver` shows at once.

A context that holds anything else (a model instance, a lazy string) is refused with a TypeError rather than
hashed by its `repr`, because then the key would not cover what the template reads.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.template.loader import get_template, render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

CACHE_ALIAS = "fragments"


@functools.cache
def template_fingerprint(template_name: str) -> str:
    """SHA-256 of a partial's source, once per process."""
    source = get_template(template_name).template.source
    return hashlib.sha256(source.encode()).hexdigest()


def _plain(value: Any) -> Any:
    """JSON encoding of the few non-JSON plain values a context may hold; anything else is refused."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"fragment contexts hold plain values only, not {type(value).__name__}")


def fragment_key(name: str, values: Any) -> str:
    """The cache key of fragment `name` showing `values` (see the module docstring)."""
    payload = json.dumps(values, sort_keys=True, default=_plain, separators=(",", ":"))
    digest = hashlib.sha256()
    for part in (name, timezone.get_current_timezone_name(), payload):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def cached_html(name: str, items: Sequence[Any], render: Callable[[Any], str]) -> list[SafeString]:
    """`render(item)` for each item, in order, memoized under `fragment_key(name, item)`: one `get_many` for
    the lot, then one `set_many` for the ones rendered now. `item` must be plain values that determine the
    whole of `render(item)` (with `name` standing for the code and templates that render it)."""
    if settings.DEBUG:
        return [mark_safe(render(item)) for item in items]  # noqa: S308 - autoescaped template output
    cache = caches[CACHE_ALIAS]
    keys = [fragment_key(name, item) for item in items]
    found = cache.get_many(keys) if keys else {}
    rendered: dict[str, str] = {}
    for key, item in zip(keys, items, strict=True):
        if key not in found and key not in rendered:
            rendered[key] = render(item)
    if rendered:
        cache.set_many(rendered)
    # The HTML came from the autoescaping template engine, here or for identical values.
    return [mark_safe(found[key] if key in found else rendered[key]) for key in keys]  # noqa: S308


def _template_key(template_name: str) -> str:
    return f"{template_name}:{template_fingerprint(template_name)}"


def render_fragments(template_name: str, contexts: Sequence[dict[str, Any]]) -> list[SafeString]:
    """`template_name` rendered once per context (plain values only), cached per context."""
    return cached_html(_template_key(template_name), contexts, lambda context: render_to_string(template_name, context))


def render_fragment(template_name: str, shown: Any, context: dict[str, Any]) -> SafeString:
    """`template_name` rendered with `context` (which may hold forms and other objects), cached under `shown`:
    plain values that decide the whole output given the code (e.g. a form's values, errors and choices)."""
    return cached_html(_template_key(template_name), [shown], lambda _: render_to_string(template_name, context))[0]
