"""Template context for the base layout: the user's organizations (switcher), the organization of
the current URL, the user's role in it, what that role allows, and the navigation items apps add.

It is derived from the URL rather than from the view so the layout is right on every page under
/o/<org_slug>/, including the 403 page and other apps' pages, without each view passing it.

An app adds an item to the organization navigation, on every page, from its AppConfig:

    class ConnectionsConfig(AppConfig):
        org_nav_items = [
            {"label": "Connections", "url_name": "connection_list", "action": "view", "section": "connections"},
        ]

`url_name` is reversed with the organization's `org_slug`; the item shows only when `policy.can` allows
`action` (default "view"); `section` matches the view's `nav_section` to mark the current page.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from core.expressions import column_of, json_rows_of

from .mixins import MEMBER_ORGS_COLUMN, OrgPermissions
from .models import Membership, Notification


def organizations(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {
            "user_orgs": [],
            "current_org": None,
            "current_role": None,
            "org_perms": OrgPermissions(None, None),
            "org_nav_items": [],
            "open_alerts": 0,
        }
    # The page's view (OrgPageMixin) read the organization with the switcher's list and the policy's answers.
    perms = getattr(request, "org_perms", None)
    page_org = perms.org if perms is not None else None
    listed = json_rows_of(page_org, MEMBER_ORGS_COLUMN) if page_org is not None else None
    if listed is not None:
        user_orgs: list[tuple[Any, str]] = [(OrgRef(pk, slug, name), role) for pk, slug, name, role in listed]
    else:
        memberships = Membership.objects.filter(user=user).select_related("org").order_by("org__slug")
        user_orgs = [(m.org, m.role) for m in memberships]
    current_org, current_role = _current(request, user_orgs)
    if current_org is not None and page_org is not None and current_org.pk == page_org.pk:
        current_org = page_org  # the full row (plan, settings), not the switcher's summary
    if perms is None or perms.org != current_org:
        perms = OrgPermissions(user, current_org)
    return {
        "user_orgs": user_orgs,
        "current_org": current_org,
        "current_role": current_role,
        "org_perms": perms,
        "org_nav_items": _app_nav_items(current_org, perms) if current_org is not None else [],
        "open_alerts": _open_alerts(current_org, perms.org),
    }


class OrgRef:
    """An organization as the switcher shows it (id, slug, name); equal to the organization with its id."""

    __slots__ = ("name", "pk", "slug")

    def __init__(self, pk: int, slug: str, name: str) -> None:
        self.pk, self.slug, self.name = pk, slug, name

    def __eq__(self, other: object) -> bool:
        return getattr(other, "pk", None) == self.pk

    def __hash__(self) -> int:
        return hash(self.pk)


def _open_alerts(org: Any, page_org: Any) -> int:
    """Undismissed alerts of the current organization, for the banner on every page: read with the page's
    organization when its view read it (`OrgPageMixin.get_org`, `open_alert_count`), else counted here."""
    if org is None:
        return 0
    count = column_of(page_org, "open_alert_count") if page_org is not None and page_org.pk == org.pk else None
    if count is not None:
        return count
    return Notification.objects.filter(org=org, dismissed_at__isnull=True).count()


def _current(request: HttpRequest, user_orgs: list[tuple[Any, str]]) -> tuple[Any, str | None]:
    """The (org, role) whose slug is in the URL, if the user belongs to it (else none: it is a 404)."""
    match = getattr(request, "resolver_match", None)
    slug = match.kwargs.get("org_slug") if match is not None else None
    for org, role in user_orgs:
        if org.slug == slug:
            return org, role
    return None, None


def _app_nav_items(org: Any, perms: OrgPermissions) -> list[dict[str, str]]:
    """The `org_nav_items` of installed apps that this role may use, with their URLs for this org."""
    items = []
    for config in apps.get_app_configs():
        for item in getattr(config, "org_nav_items", ()):
            if not perms[item.get("action", "view")]:
                continue
            try:
                url = reverse(item["url_name"], kwargs={"org_slug": org.slug})
            except NoReverseMatch:  # an app whose routes are not mounted (yet) must not break every page
                continue
            items.append({"label": item["label"], "url": url, "section": item.get("section", "")})
    return items
