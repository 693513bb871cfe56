"""The layout's context (accounts/context_processors.py): current organization and role, the navigation items
installed apps add, and the block templates extend."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.db import connection
from django.template import engines
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.context_processors import organizations
from accounts.models import Membership, Notification, Organization

pytestmark = pytest.mark.django_db


def url(name: str, org_slug: str = "acme", **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": org_slug, **kwargs})


def text(response) -> str:
    return response.content.decode()


def test_layout_context_names_the_current_organization_and_role(client_as, org, members):
    response = client_as("provisioner").get(url("member_list"))
    assert response.context["current_org"] == org
    assert response.context["current_role"] == "provisioner"
    assert response.context["org"] == org and response.context["role"] == "provisioner"
    assert response.context["nav_section"] == "members"
    assert response.context["org_perms"]["manage_roles"] is True
    assert response.context["org_perms"]["manage_members"] is False
    assert response.context["org_perms"]["no_such_action"] is False


def test_apps_add_navigation_items_the_role_allows(client_as, org, members, monkeypatch):
    monkeypatch.setattr(
        apps.get_app_config("accounts"),
        "org_nav_items",
        [
            {"label": "Extra for admins", "url_name": "audit_list", "action": "read_audit", "section": "extra"},
            {"label": "Extra for all", "url_name": "environment_list"},
            {"label": "Not mounted", "url_name": "no_such_route"},
        ],
        raising=False,
    )
    admin_page = text(client_as("admin").get(url("org_home")))
    viewer_page = text(client_as("viewer").get(url("org_home")))
    assert "Extra for admins" in admin_page and "Extra for admins" not in viewer_page
    assert "Extra for all" in admin_page and "Extra for all" in viewer_page
    assert "Not mounted" not in admin_page


def test_org_nav_extra_block_can_be_overridden(org, members, rf):
    request = rf.get(url("org_home"))
    request.user = members["viewer"]
    request.resolver_match = type("Match", (), {"kwargs": {"org_slug": "acme"}})()
    template = engines["django"].from_string(
        '{% extends "base.html" %}{% block org_nav_extra %}<li><a href="/x/">Connections</a></li>{% endblock %}'
    )
    html = template.render({"nav_section": "home", **organizations(request)}, request)
    nav = html.split('aria-label="Organization"')[1].split("</nav>")[0]
    assert nav.index(">Home<") < nav.index(">Connections<") < nav.index(">Environments<")


def _switcher(page: str) -> list[tuple[str, str]]:
    """(organization name, role label) of the organization switcher's entries, in order."""
    panel = page.split('aria-labelledby="org-switcher-heading"')[1].split("</ul>")[0]
    return re.findall(r"<span>([^<]+)</span>\s*<span class=\"badge[^\"]*\">([^<]+)</span>", panel)


def test_the_switcher_comes_with_the_page_organization_and_matches_the_memberships(client_as, org, members):
    """On an organization's page the switcher's list is a column of the organization's query (no query of
    its own); elsewhere (the home page) it is queried: both show every membership, by slug, with its role."""
    user = members["user"]
    for slug, role in (("zeta", "viewer"), ("beta", "admin")):
        other = Organization.objects.create(slug=slug, name=f"{slug.title()} Inc")
        Membership.objects.create(org=other, user=user, role=role)
    Organization.objects.create(slug="gamma", name="Gamma Inc")  # not a member: never listed
    client = client_as("user")
    with CaptureQueriesContext(connection) as queries:
        org_page = text(client.get(url("environment_list")))
    assert not [q for q in queries.captured_queries if q["sql"].lstrip().startswith('SELECT "accounts_membership"')]
    home = text(client.get(reverse("home")))
    expected = [(org.name, "User"), ("Beta Inc", "Admin"), ("Zeta Inc", "Viewer")]  # by slug: acme, beta, zeta
    assert _switcher(org_page) == _switcher(home) == expected
    assert re.search(r'href="/o/acme/"\s*aria-current="true"', org_page)
    assert "Gamma Inc" not in org_page


def test_the_banner_counts_open_alerts_read_with_the_organization(client_as, org, members):
    Notification.objects.create(org=org, title="a")
    Notification.objects.create(org=org, title="b")
    Notification.objects.create(org=org, title="c", dismissed_at=timezone.now())
    page = text(client_as("viewer").get(url("environment_list")))
    assert "2 open alerts" in page
