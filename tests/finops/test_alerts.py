"""Budgets, the month-end forecast and anomaly alerts, with fixed data and a fixed clock: one alert per crossing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail

from accounts.models import AuditEvent, Notification
from finops import services
from finops.models import BudgetAlert, CostAnomaly
from finops.reports import forecast
from tests.connections.conftest import create_connection
from tests.finops.conftest import add_costs

NOV = dt.date(2026, 11, 1)


@pytest.fixture
def connection(org, members):
    return create_connection(org, "aws", name="aws-prod", environments=("production",))


def test_forecast_is_a_linear_run_rate_over_the_days_with_data():
    # 10 days of data in a 30-day month: 100 spent -> 300 forecast
    assert forecast(Decimal("100"), dt.date(2026, 11, 10), dt.date(2026, 11, 12)) == Decimal("300.00")
    # data after "today" is not counted as elapsed days
    assert forecast(Decimal("100"), dt.date(2026, 11, 20), dt.date(2026, 11, 10)) == Decimal("300.00")
    assert forecast(Decimal("0"), None, dt.date(2026, 11, 10)) == Decimal("0")


def test_each_threshold_crossing_alerts_once(org, members, connection, settings, django_capture_on_commit_callbacks):
    settings.ALERT_EMAILS_ENABLED = True
    production = org.environments.get(slug="production")
    budget = services.do_create_budget(
        org, actor=members["admin"], name="Prod", scope="environment", environment="production", amount="300",
        thresholds=[50, 80, 100],
    )  # fmt: skip
    for day in range(1, 6):  # 5 days x 20 = 100 spent; forecast 100/5*30 = 600
        add_costs(connection, NOV.replace(day=day), "AWS Lambda", "20", environment=production)
    add_costs(connection, NOV, "AWS Lambda", "999", tag="untagged")  # another scope: not this budget's
    on = dt.date(2026, 11, 5)
    with django_capture_on_commit_callbacks(execute=True):
        raised = services.evaluate_budgets(org, on=on)
    assert sorted((a.threshold, a.kind) for a in raised) == [
        (50, "forecast"), (80, "forecast"), (100, "forecast"),
    ]
    status = services.budget_status(budget, on=on)
    assert (status.actual, status.forecast) == (Decimal("100"), Decimal("600.00"))
    # the existing alert path: banner (Notification), e-mail to admins, audit event
    assert Notification.objects.filter(org=org, title__startswith="Budget 'Prod'").count() == 3
    assert len(mail.outbox) == 3 and mail.outbox[0].to == [members["admin"].email]
    assert AuditEvent.objects.filter(org=org, action="finops.budget_alert").count() == 3
    # evaluating again (another sync) raises nothing new
    assert services.evaluate_budgets(org, on=on) == []
    # spend reaches 160 (> 50% of 300): the actual 50% crossing alerts, once
    add_costs(connection, NOV.replace(day=6), "AWS Lambda", "60", environment=production)
    raised = services.evaluate_budgets(org, on=dt.date(2026, 11, 6))
    assert [(a.threshold, a.kind) for a in raised] == [(50, "actual")]
    assert services.evaluate_budgets(org, on=dt.date(2026, 11, 6)) == []
    assert BudgetAlert.objects.filter(budget=budget).count() == 4
    # a new month starts over
    add_costs(connection, dt.date(2026, 12, 1), "AWS Lambda", "200", environment=production)
    raised = services.evaluate_budgets(org, on=dt.date(2026, 12, 1))
    assert {(a.month, a.threshold, a.kind) for a in raised} >= {(dt.date(2026, 12, 1), 50, "actual")}


def test_an_anomaly_alerts_once_per_service_and_day(org, members, connection, settings):
    settings.FINOPS_ANOMALY_BASELINE_DAYS = 14
    settings.FINOPS_ANOMALY_STDDEVS = 3
    settings.FINOPS_ANOMALY_MIN_COST = 10
    start = dt.date(2026, 10, 1)
    for i in range(14):
        day = start + dt.timedelta(days=i)
        add_costs(connection, day, "Amazon EC2", "10" if i % 2 else "12")
        add_costs(connection, day, "AWS Lambda", "1")
    spike = start + dt.timedelta(days=14)
    add_costs(connection, spike, "Amazon EC2", "60")
    add_costs(connection, spike, "AWS Lambda", "5")  # 5x its baseline, but below the minimum amount
    raised = services.evaluate_anomalies(connection, [spike])
    assert [(a.service_name, a.day, a.cost) for a in raised] == [("Amazon EC2", spike, Decimal("60"))]
    assert raised[0].baseline_mean == Decimal("11")
    # the next sync (same day checked again) raises nothing new
    assert services.evaluate_anomalies(connection, [spike]) == []
    assert CostAnomaly.objects.count() == 1
    assert Notification.objects.filter(title__startswith="Cost anomaly").count() == 1
    assert AuditEvent.objects.filter(org=org, action="finops.anomaly_alert").count() == 1


def test_no_anomaly_without_a_full_baseline(org, connection):
    day = dt.date(2026, 10, 5)
    add_costs(connection, day - dt.timedelta(days=1), "Amazon EC2", "1")
    add_costs(connection, day, "Amazon EC2", "500")
    assert services.evaluate_anomalies(connection, [day]) == []


def test_budget_validation_is_field_level(org, members):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        services.do_create_budget(org, actor=members["admin"], name="", scope="environment", environment="nope",
                                  amount="-1", currency="dollars", thresholds="a,b")  # fmt: skip
    assert set(exc.value.message_dict) == {"name", "environment", "amount", "currency", "thresholds"}


def test_only_admins_manage_budgets(org, members):
    from django.core.exceptions import PermissionDenied

    for role in ("viewer", "user", "provisioner"):
        with pytest.raises(PermissionDenied):
            services.do_create_budget(org, actor=members[role], name="X", amount="10")
