"""The layout's context (accounts/context_processors.py): current organization and role, the navigation items
installed apps add, and the block templates extend."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.template import engines
from django.urls import reverse

from accounts.context_processors import organizations

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
