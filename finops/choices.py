"""Choice sets of the FinOps app."""

from django.db import models


class SyncStatusChoices(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Waiting to retry"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    UNAVAILABLE = "unavailable", "Not available"


class SyncKindChoices(models.TextChoices):
    INCREMENTAL = "incremental", "Incremental"
    BACKFILL = "backfill", "Backfill"


class BudgetScopeChoices(models.TextChoices):
    ORGANIZATION = "organization", "Organization"
    ENVIRONMENT = "environment", "Environment"
    CONNECTION = "connection", "Connection"


class AlertKindChoices(models.TextChoices):
    ACTUAL = "actual", "Actual"
    FORECAST = "forecast", "Forecast"
