"""FinOps domain: cost records (one FOCUS 1.2 row each), sync jobs, budgets, budget alerts, anomalies.

Amounts are `Decimal` columns (never float). A cost record is unique per (connection, charge day,
service, resource, environment and project tag values), so replacing a synced range gives the same rows again.
Everything hangs off a connection or the organization and cascades with it: the connection's
deletion preview counts cost records and sync jobs through `finops.dependents`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Environment, Notification, OrgScopedModel
from connections.models import Connection

from .choices import AlertKindChoices, BudgetScopeChoices, SyncKindChoices, SyncStatusChoices

__all__ = ["Budget", "BudgetAlert", "CostAnomaly", "CostRecord", "SyncJob"]

AMOUNT = {"max_digits": 24, "decimal_places": 10}
DEFAULT_THRESHOLDS = [50, 80, 100]


def default_thresholds() -> list[int]:
    return list(DEFAULT_THRESHOLDS)


class CostRecord(OrgScopedModel):
    """One FOCUS row: a day's cost of one service (and resource / environment tag value) on one connection."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE)
    environment = models.ForeignKey(Environment, on_delete=models.SET_NULL, null=True, blank=True)
    provider = models.CharField(max_length=32, help_text="The platform's provider code of the connection.")
    # FOCUS columns (dates are whole UTC days: ChargePeriodEnd is exclusive, the next day).
    charge_period_start = models.DateField()
    charge_period_end = models.DateField()
    billing_period_start = models.DateField()
    billing_period_end = models.DateField()
    billed_cost = models.DecimalField(**AMOUNT)
    effective_cost = models.DecimalField(**AMOUNT)
    list_cost = models.DecimalField(**AMOUNT, null=True, blank=True)
    billing_currency = models.CharField(max_length=3)
    charge_category = models.CharField(max_length=20, default="Usage")
    provider_name = models.CharField(max_length=100)
    service_name = models.CharField(max_length=200)
    service_category = models.CharField(max_length=50, default="Other")
    sub_account_id = models.CharField(max_length=200, blank=True)
    region_id = models.CharField(max_length=100, blank=True)
    resource_id = models.CharField(max_length=500, blank=True)
    environment_tag = models.CharField(max_length=200, blank=True)
    # The project tag's value (FINOPS_PROJECT_TAG): the Terraform project whose run created the resources.
    # A name, not a foreign key: finops and projects are independent apps; reports group by the name.
    project_name = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=dict, blank=True)

    class Meta:
        default_related_name = "cost_records"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "connection",
                    "charge_period_start",
                    "service_name",
                    "resource_id",
                    "environment_tag",
                    "project_name",
                ],
                name="finops_cost_record_unique_row",
            )
        ]
        indexes = [
            models.Index(fields=["org", "charge_period_start"]),
            models.Index(fields=["connection", "charge_period_start"]),
        ]

    def __str__(self) -> str:
        return f"{self.service_name} {self.charge_period_start} {self.billed_cost} {self.billing_currency}"


class SyncJob(OrgScopedModel):
    """One pull of a connection's costs for a day range; what the page and the API show about syncing."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE)
    kind = models.CharField(max_length=20, choices=SyncKindChoices.choices, default=SyncKindChoices.INCREMENTAL)
    status = models.CharField(max_length=20, choices=SyncStatusChoices.choices, default=SyncStatusChoices.QUEUED)
    range_start = models.DateField()
    range_end = models.DateField(help_text="Exclusive: the day after the last day synced.")
    rows_written = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=1000, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_related_name = "sync_jobs"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["connection", "status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.range_start}..{self.range_end} {self.status}"


class Budget(OrgScopedModel):
    """A monthly budget for the organization, one environment or one connection, with alert thresholds (%)."""

    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=20, choices=BudgetScopeChoices.choices, default=BudgetScopeChoices.ORGANIZATION)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, null=True, blank=True)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, null=True, blank=True)
    amount = models.DecimalField(max_digits=20, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    thresholds = models.JSONField(default=default_thresholds)

    class Meta:
        default_related_name = "budgets"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="finops_budget_unique_name")]

    def __str__(self) -> str:
        return self.name


class BudgetAlert(OrgScopedModel):
    """A threshold crossed in one month (actual or forecast): unique, so each crossing alerts once."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE)
    month = models.DateField()
    threshold = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=AlertKindChoices.choices)
    amount = models.DecimalField(**AMOUNT)
    notification = models.ForeignKey(Notification, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_related_name = "budget_alerts"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["budget", "month", "threshold", "kind"], name="finops_budget_alert_once")
        ]


class CostAnomaly(OrgScopedModel):
    """A day's cost of one service on one connection far above its trailing baseline; alerted once."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE)
    service_name = models.CharField(max_length=200)
    day = models.DateField()
    cost = models.DecimalField(**AMOUNT)
    baseline_mean = models.DecimalField(**AMOUNT)
    baseline_stdev = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3, default="USD")
    notification = models.ForeignKey(Notification, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        default_related_name = "cost_anomalies"
        ordering = ["-day", "service_name"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "service_name", "day"], name="finops_anomaly_once")
        ]
