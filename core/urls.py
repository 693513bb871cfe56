"""URLs of a route repeated on every row of a page, reversed once per page instead of once per row."""

from __future__ import annotations

import re
from typing import Any

from django.urls import reverse

# Values that need no quoting in a path and that the slug, int and uuid converters all accept the form of.
_PLAIN = re.compile(r"[-a-zA-Z0-9_]+")
_MARKER = "8080808080808080"  # digits, so an `<int:...>` argument accepts it while reversing


class RowUrls:
    """`reverse(name, kwargs={**fixed, row_arg: value})` for many values at the cost of one `reverse`.

        edit = RowUrls("environment_edit", "env_slug", org_slug=org.slug)
        edit(env.slug)  # == reverse("environment_edit", kwargs={"org_slug": org.slug, "env_slug": env.slug})

    The route is reversed once with a marker in place of the row's argument; a row's URL is that text with
    its value in place of the marker. That is the same URL whenever the value needs no quoting (slugs, ints,
    UUIDs); any other value, or a marker that also occurs in the fixed arguments, falls back to `reverse`.
    """

    def __init__(self, name: str, row_arg: str, **fixed: Any) -> None:
        self.name, self.row_arg, self.fixed = name, row_arg, fixed
        path = reverse(name, kwargs={**fixed, row_arg: _MARKER})
        self.parts = path.split(_MARKER)

    def __call__(self, value: Any) -> str:
        text = str(value)
        if len(self.parts) == 2 and _PLAIN.fullmatch(text):
            return text.join(self.parts)
        return reverse(self.name, kwargs={**self.fixed, self.row_arg: value})
