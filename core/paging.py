"""Page-number pagination for the server-rendered pages (the API's cursor pagination is `core/api/pagination.py`).

Every list or sub-list a page shows goes through `page_of`, so none grows with the organization: the page
holds at most `per_page` rows, the paginator counts the plain filtered queryset (no aggregate, no prefetch),
and a sub-list on a detail page reads its own GET parameter (`roles_page`, `auth_page`, ...) so paging one
list leaves the others where they were. `templates/includes/pagination.html` draws the links with
`{% page_url %}` (core/templatetags/ui_tags.py), which keeps every other GET parameter (filters, the other
lists' pages) and replaces only this list's.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest


def page_of(request: HttpRequest, rows: Any, per_page: int, param: str = "page") -> Page:
    """The page of `rows` named by `request.GET[param]`. A missing, non-numeric or out-of-range number gives
    the first or the last page (`Paginator.get_page`), never an error: it is usually an old bookmark.

    `page.param` remembers the parameter for the template partial.
    """
    page = Paginator(rows, per_page).get_page(request.GET.get(param))
    page.param = param  # type: ignore[attr-defined]
    return page
