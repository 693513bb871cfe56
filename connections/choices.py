"""Choice sets for connections (NetBox style)."""

from django.db import models


class ConnectionStatusChoices(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    ERROR = "error", "Error"


STATUS_COLORS = {"active": "green", "inactive": "gray", "error": "red"}


class HealthStatusChoices(models.TextChoices):
    UNKNOWN = "unknown", "Not checked"
    HEALTHY = "healthy", "Healthy"
    UNHEALTHY = "unhealthy", "Unhealthy"


class UsageOutcomeChoices(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"


class RoleStatusChoices(models.TextChoices):
    PENDING = "pending", "Pending"
    VALIDATING = "validating", "Validating"
    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid"
    DRIFT = "drift", "Drift"
    EXPIRED = "expired", "Expired"
    ERROR = "error", "Error"
