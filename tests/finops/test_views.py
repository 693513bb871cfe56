"""The cost dashboard's budgets list pages like every other list (issue 13): one page of budgets, their
statuses computed for that page only, the same queries at 10 and 1,000 budgets."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from finops.models import Budget


def add_budgets(org, count: int, start: int = 0) -> None:
    Budget.objects.bulk_create(
        Budget(org=org, name=f"budget-{i:04d}", amount=Decimal(100)) for i in range(start, start + count)
    )


def budget_names(page: str) -> list[str]:
    table = re.search(r'<table class="table" id="budget-table">(.*?)</table>', page, re.S)
    return re.findall(r"<td>(budget-\d{4})</td>", table.group(1)) if table else []


def test_budget_list_queries_are_the_same_at_10_and_1000(client_as, org, members):
    client = client_as("admin")
    add_budgets(org, 10)
    client.get(f"/o/{org.slug}/costs/")  # warm the per-process caches before counting
    with CaptureQueriesContext(db) as small:
        assert len(budget_names(client.get(f"/o/{org.slug}/costs/").content.decode())) == 10
    add_budgets(org, 990, start=10)
    with CaptureQueriesContext(db) as large:
        page = client.get(f"/o/{org.slug}/costs/").content.decode()
    assert budget_names(page) == [f"budget-{i:04d}" for i in range(25)]
    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.parametrize(("value", "first"), [("2", 25), ("999", 50), ("x", 0)])
def test_budget_pages_keep_their_own_parameter(client_as, org, members, value, first):
    add_budgets(org, 60)
    page = client_as("viewer").get(f"/o/{org.slug}/costs/", {"budget_page": value, "other": "kept"}).content.decode()
    assert budget_names(page)[0] == f"budget-{first:04d}"
    assert "other=kept" in page  # the page links keep the other parameters
