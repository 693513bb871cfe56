"""Signing keys in the admin (identity/admin.py): read-only, with a rotate action for superusers only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from identity.keys import get_active_key

pytestmark = pytest.mark.django_db


def test_admin_is_read_only_and_rotates(admin_client: Client) -> None:
    old = get_active_key()

    assert admin_client.get("/admin/identity/signingkey/add/").status_code == 403
    assert admin_client.post(f"/admin/identity/signingkey/{old.pk}/delete/").status_code == 403
    response = admin_client.post(
        "/admin/identity/signingkey/", {"action": "rotate", "_selected_action": [old.pk]}, follow=True
    )

    assert response.status_code == 200
    new = get_active_key()
    assert new.kid != old.kid and new.kid in response.content.decode()


def test_admin_rotate_needs_a_superuser(client: Client, django_user_model) -> None:
    staff = django_user_model.objects.create_user(email="staff@platform.test", password="x" * 12, is_staff=True)
    staff.user_permissions.add(*_view_permission())
    client.force_login(staff)
    key = get_active_key()

    page = client.get("/admin/identity/signingkey/")
    client.post("/admin/identity/signingkey/", {"action": "rotate", "_selected_action": [key.pk]})

    # The admin site is for superusers only (accounts/admin_site.py): staff get no page at all.
    assert page.status_code == 302 and 'value="rotate"' not in page.content.decode()
    assert get_active_key() == key


def _view_permission() -> list[Any]:
    return list(Permission.objects.filter(content_type__app_label="identity", codename="view_signingkey"))
