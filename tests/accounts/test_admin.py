"""Every model is in the admin, and every admin list page renders (with filters and search)."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

pytestmark = pytest.mark.django_db

OUR_APPS = ("accounts", "connections", "identity")


def test_every_model_is_registered():
    missing = [
        m._meta.label
        for app in OUR_APPS
        for m in apps.get_app_config(app).get_models()
        if m not in admin.site._registry
    ]
    assert missing == []


@pytest.mark.parametrize(
    "model", [m for app in OUR_APPS for m in apps.get_app_config(app).get_models()], ids=lambda m: m._meta.label
)
def test_changelist_renders(admin_client, org, members, make_connection, model):
    make_connection(org, "aws", name="aws-admin", environments=("development",))
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "acme"}).status_code == 200


def test_staff_admin_sees_only_organizations_they_administer(client, members, other_org, make_connection, org):
    make_connection(other_org, "github", name="gh-globex", actor=other_org.memberships.get().user)
    make_connection(org, "github", name="gh-acme")
    admin_user = members["admin"]
    admin_user.is_staff = True
    admin_user.save()

    admin_user.user_permissions.add(*Permission.objects.filter(content_type__app_label="connections"))
    client.force_login(admin_user)
    body = client.get(reverse("admin:connections_connection_changelist")).content.decode()
    assert "gh-acme" in body and "gh-globex" not in body
