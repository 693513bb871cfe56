"""Cost figures for the dashboard, the API and the budgets: grouped sums, computed in the database.

Every figure is one grouped query whatever the number of rows, connections or budgets (the dashboard's
query count does not grow with the data). Amounts stay per billing currency: nothing adds dollars to euros.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Max, QuerySet, Sum

from accounts.models import Organization

from .choices import BudgetScopeChoices
from .models import Budget, CostAnomaly, CostRecord, SyncJob

__all__ = ["GROUP_BY", "BudgetStatus", "Dashboard", "budget_statuses", "dashboard", "forecast", "grouped"]

#: `group_by` values of the API and the fields they group on.
GROUP_BY: dict[str, str] = {
    "service": "service_name",
    "service_category": "service_category",
    "environment": "environment__slug",
    "project": "project_name",
    "connection": "connection__name",
    "provider": "provider",
    "month": "billing_period_start",
    "day": "charge_period_start",
}


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def days_in_month(day: dt.date) -> int:
    return (next_month(day) - month_start(day)).days


def grouped(records: QuerySet, group_by: str) -> list[dict[str, Any]]:
    """Billed and effective cost per `group_by` value and currency, largest first (days: in date order)."""
    column = GROUP_BY[group_by]
    rows = records.values(column, "billing_currency").annotate(
        billed_cost=Sum("billed_cost"), effective_cost=Sum("effective_cost")
    )
    ordering = [column, "billing_currency"] if group_by in ("day", "month") else ["-billed_cost", column]
    return [
        {
            "key": row[column].isoformat() if isinstance(row[column], dt.date) else (row[column] or ""),
            "currency": row["billing_currency"],
            "billed_cost": row["billed_cost"],
            "effective_cost": row["effective_cost"],
        }
        for row in rows.order_by(*ordering)
    ]


def forecast(actual: Decimal, last_day: dt.date | None, on: dt.date) -> Decimal:
    """Month-end forecast, linear run rate: `actual` over the days from the 1st through the last day
    with data (not after `on`), times the days in the month. With no data yet it is `actual`."""
    if last_day is None or last_day < month_start(on):
        return actual
    last_day = min(last_day, on)
    elapsed = (last_day - month_start(on)).days + 1
    return (actual / elapsed * days_in_month(on)).quantize(Decimal("0.01"))


@dataclass
class BudgetStatus:
    budget: Budget
    month: dt.date
    actual: Decimal
    forecast: Decimal

    @property
    def percent_actual(self) -> int:
        return int(self.actual * 100 / self.budget.amount) if self.budget.amount else 0

    @property
    def percent_forecast(self) -> int:
        return int(self.forecast * 100 / self.budget.amount) if self.budget.amount else 0

    @property
    def remaining(self) -> Decimal:
        return self.budget.amount - self.actual


def budget_statuses(org: Organization, *, on: dt.date, budgets: list[Budget] | None = None) -> list[BudgetStatus]:
    """Month-to-date billed cost and forecast of each budget: three grouped queries for all of them."""
    if budgets is None:
        budgets = list(Budget.objects.filter(org=org).select_related("org", "environment", "connection"))
    if not budgets:
        return []
    month = CostRecord.objects.filter(
        org=org, charge_period_start__gte=month_start(on), charge_period_start__lt=next_month(on)
    )
    figures: dict[tuple[str, Any, str], tuple[Decimal, dt.date | None]] = {}
    for scope, column in ((BudgetScopeChoices.ORGANIZATION, None), (BudgetScopeChoices.ENVIRONMENT, "environment_id"),
                          (BudgetScopeChoices.CONNECTION, "connection_id")):  # fmt: skip
        if not any(b.scope == scope for b in budgets):
            continue
        columns = [c for c in (column, "billing_currency") if c]
        rows = month.values(*columns).annotate(actual=Sum("billed_cost"), last=Max("charge_period_start"))
        for row in rows.order_by():
            key = (scope, row.get(column) if column else None, row["billing_currency"])
            figures[key] = (row["actual"], row["last"])
    statuses = []
    for budget in budgets:
        key = {BudgetScopeChoices.ENVIRONMENT: budget.environment_id,
               BudgetScopeChoices.CONNECTION: budget.connection_id}.get(budget.scope)  # fmt: skip
        actual, last = figures.get((budget.scope, key, budget.currency), (Decimal(0), None))
        statuses.append(BudgetStatus(budget, month_start(on), actual, forecast(actual, last, on)))
    return statuses


@dataclass
class Dashboard:
    on: dt.date
    month: dt.date
    mtd: list[dict[str, Any]]
    last_month_to_date: list[dict[str, Any]]
    last_month_total: list[dict[str, Any]]
    by_service: list[dict[str, Any]]
    by_environment: list[dict[str, Any]]
    by_project: list[dict[str, Any]]
    by_connection: list[dict[str, Any]]
    by_provider: list[dict[str, Any]]
    daily: list[dict[str, Any]]
    budgets: list[BudgetStatus]
    anomalies: list[CostAnomaly]
    recent_jobs: list[SyncJob]
    comparison: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.mtd or self.last_month_total or self.daily)


def dashboard(
    org: Organization, *, on: dt.date, trend_days: int = 30, budgets: list[Budget] | None = None
) -> Dashboard:
    """Everything the dashboard shows, in a fixed number of queries; `budgets` limits the budget statuses
    to those rows (the page passes one page of them), default all."""
    records = CostRecord.objects.filter(org=org)
    first = month_start(on)
    previous = month_start(first - dt.timedelta(days=1))
    # The same number of days of last month (capped at its length), for a like-for-like comparison.
    same_day = min(on.day, days_in_month(previous))
    this_month = records.filter(charge_period_start__gte=first, charge_period_start__lte=on)
    last_to_date = records.filter(charge_period_start__gte=previous,
                                  charge_period_start__lt=previous + dt.timedelta(days=same_day))  # fmt: skip
    last_total = records.filter(charge_period_start__gte=previous, charge_period_start__lt=first)
    mtd = _totals(this_month)
    last_mtd = _totals(last_to_date)
    last_all = _totals(last_total)
    comparison = []
    currencies = sorted({r["currency"] for r in (*mtd, *last_mtd, *last_all)})
    for currency in currencies:
        now_amount = next((r["billed_cost"] for r in mtd if r["currency"] == currency), Decimal(0))
        before = next((r["billed_cost"] for r in last_mtd if r["currency"] == currency), Decimal(0))
        total = next((r["billed_cost"] for r in last_all if r["currency"] == currency), Decimal(0))
        change = int((now_amount - before) * 100 / before) if before else None
        comparison.append({"currency": currency, "mtd": now_amount, "last_month_to_date": before,
                           "last_month_total": total, "change_percent": change})  # fmt: skip
    trend = records.filter(charge_period_start__gt=on - dt.timedelta(days=trend_days), charge_period_start__lte=on)
    return Dashboard(
        on=on,
        month=first,
        mtd=mtd,
        last_month_to_date=last_mtd,
        last_month_total=last_all,
        by_service=grouped(this_month, "service"),
        by_environment=grouped(this_month, "environment"),
        by_project=grouped(this_month, "project"),
        by_connection=grouped(this_month, "connection"),
        by_provider=grouped(this_month, "provider"),
        daily=grouped(trend, "day"),
        budgets=budget_statuses(org, on=on, budgets=budgets),
        anomalies=list(CostAnomaly.objects.filter(org=org).select_related("connection")[:20]),
        recent_jobs=list(SyncJob.objects.filter(org=org).select_related("connection")[:10]),
        comparison=comparison,
    )


def _totals(records: QuerySet) -> list[dict[str, Any]]:
    rows = records.values("billing_currency").annotate(
        billed_cost=Sum("billed_cost"), effective_cost=Sum("effective_cost")
    )
    return [{"currency": r["billing_currency"], "billed_cost": r["billed_cost"], "effective_cost": r["effective_cost"]}
            for r in rows.order_by("billing_currency")]  # fmt: skip


def series_by_day(rows: list[dict[str, Any]]) -> dict[str, list[tuple[str, Decimal]]]:
    """Daily rows per currency, for the chart."""
    out: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    for row in rows:
        out[row["currency"]].append((row["key"], row["billed_cost"]))
    return dict(out)
