"""The {% can %} template tag (accounts/templatetags/policy_tags.py) asks the policy."""

from __future__ import annotations

import pytest
from django.template import Context, Template

pytestmark = pytest.mark.django_db


def test_can_tag_asks_the_policy(org, members, rf):
    template = Template(
        '{% load policy_tags %}{% can "read_audit" org as ok %}{{ ok }}|{% can "nope" org as bad %}{{ bad }}'
    )
    for role, expected in (("viewer", "False"), ("admin", "True")):
        request = rf.get("/")
        request.user = members[role]
        assert template.render(Context({"request": request, "org": org})) == f"{expected}|False"
