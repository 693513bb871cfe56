"""core.expressions: per-row lists and counts as columns of the outer query (PostgreSQL and SQLite)."""

from __future__ import annotations

import json

import pytest
from django.db.models import OuterRef

from accounts.models import Environment, Organization
from core.expressions import JsonRows, SubqueryCount

pytestmark = pytest.mark.django_db


def test_json_rows_lists_each_row_in_order_after_the_slice(org, other_org):
    Environment.objects.filter(org=org).delete()
    for slug, name in (("b-two", 'Two "quoted" \\ ✓'), ("a-one", "One"), ("c-three", "Three")):
        Environment.objects.create(org=org, slug=slug, name=name)
    first_two = Environment.objects.filter(org=OuterRef("pk")).order_by("slug")[:2]
    rows = Organization.objects.annotate(
        envs=JsonRows(first_two, {"slug": "slug", "name": "name"}, order="slug"),
        n=SubqueryCount(Environment.objects.filter(org=OuterRef("pk"))),
    )
    found = {o.slug: (json.loads(o.envs), o.n) for o in rows}
    assert found[org.slug] == ([["a-one", "One"], ["b-two", 'Two "quoted" \\ ✓']], 3)
    assert found[other_org.slug][1] == Environment.objects.filter(org=other_org).count()
    Environment.objects.filter(org=other_org).delete()
    empty = Organization.objects.annotate(envs=JsonRows(first_two, {"slug": "slug"}, order="slug")).get(pk=other_org.pk)
    assert json.loads(empty.envs) == []


@pytest.mark.parametrize(("columns", "order"), [({"slug": "slug"}, "name"), ({"Bad Name": "slug"}, "Bad Name")])
def test_json_rows_refuses_an_order_outside_its_columns_and_odd_names(columns, order):
    with pytest.raises(ValueError):
        JsonRows(Environment.objects.all(), columns, order=order)
