"""Connections domain: Connection, its environment authorizations, and its usage history."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from accounts.models import Environment, OrgScopedModel

from .advice import separation_warning
from .choices import (
    ConnectionStatusChoices,
    HealthStatusChoices,
    RoleStatusChoices,
    UsageOutcomeChoices,
)
from .providers import CATEGORY_LABELS, get_provider

__all__ = [
    "Connection",
    "ConnectionAuthorization",
    "ConnectionGroupObjectPermission",
    "ConnectionRole",
    "ConnectionUsage",
    "ConnectionUserObjectPermission",
]

connection_name_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
    "Use 3-63 lowercase letters, digits and dashes, starting and ending with a letter or digit.",
)
CATEGORY_CHOICES = list(CATEGORY_LABELS.items())


class Connection(OrgScopedModel):
    """Credentials for one external service, held once per organization and used per environment.

    Public fields live in `config`; secret fields only ever exist encrypted in `secrets_envelope`
    (envelope encryption bound to org, row and field). `secret_fingerprints` lets pages and the API
    say which secrets are set without holding anything reversible.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=63, validators=[connection_name_validator])
    description = models.CharField(max_length=500, blank=True)
    # No `choices=`: the registry is the source, so adding a provider needs no migration.
    provider = models.CharField(max_length=32)
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES, editable=False)
    auth_method = models.CharField(max_length=32)
    config = models.JSONField(default=dict, blank=True)
    secrets_envelope = models.TextField(blank=True, editable=False)
    secrets_key_id = models.CharField(max_length=32, blank=True, editable=False, db_index=True)
    secret_fingerprints = models.JSONField(default=dict, blank=True, editable=False)
    secrets_version = models.PositiveIntegerField(default=0, editable=False)
    # Hash of the destination fields when the secret was entered (connections.secrets.destination_fingerprint).
    secrets_destination = models.CharField(max_length=64, blank=True, editable=False)
    external_id = models.CharField(max_length=64, blank=True, editable=False)
    cloud_connection = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dependents",
        help_text="The cloud connection whose credentials this one uses (ECR, GCR, state backends).",
    )
    status = models.CharField(
        max_length=16, choices=ConnectionStatusChoices.choices, default=ConnectionStatusChoices.ACTIVE, db_index=True
    )
    health_status = models.CharField(
        max_length=16, choices=HealthStatusChoices.choices, default=HealthStatusChoices.UNKNOWN
    )
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_error = models.CharField(max_length=1000, blank=True)
    # What the provider said on the last check, pass or fail ("Authenticated as ..."); masked.
    last_check_message = models.CharField(max_length=1000, blank=True)
    last_check_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    credentials_rotated_at = models.DateTimeField(default=timezone.now)
    # Rotation reminders sent ("due", then "overdue") for the credentials entered at `..._basis`: new
    # credentials change `credentials_rotated_at`, which makes the stage stale (connections.reminders).
    rotation_reminder_stage = models.CharField(max_length=8, blank=True, editable=False)
    rotation_reminder_basis = models.DateTimeField(null=True, blank=True, editable=False)
    rotation_reminder_notification = models.ForeignKey(
        "accounts.Notification", on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    # OAuth connections (not secret): the scopes the user granted (None: the provider did not say) and when
    # the access token expires (None: it does not), which is when the refresh task renews it.
    oauth_scopes = models.JSONField(null=True, blank=True)
    oauth_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    environments = models.ManyToManyField(
        Environment, through="ConnectionAuthorization", related_name="connections", blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        default_related_name = "connections"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="connection_unique_name_per_org")]
        indexes = [models.Index(fields=["org", "provider"]), models.Index(fields=["org", "category"])]
        permissions = [
            ("test_connection", "Can test the connection"),
            ("use_connection", "Can use the connection's credentials in runs"),
            ("manage_roles_connection", "Can add and validate the connection's roles"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.category = get_provider(self.provider).category
        super().save(*args, **kwargs)

    @property
    def provider_spec(self) -> Any:
        return get_provider(self.provider)

    @property
    def secret_fields_set(self) -> list[str]:
        return sorted(self.secret_fingerprints)

    @property
    def rotation_due_at(self) -> Any:
        return self.credentials_rotated_at + timedelta(days=settings.ROTATION_REMINDER_DAYS)

    @property
    def rotation_overdue_at(self) -> Any:
        """When the second ("overdue") reminder goes out: the due date plus the grace period."""
        return self.rotation_due_at + timedelta(days=settings.ROTATION_OVERDUE_GRACE_DAYS)

    @property
    def rotation_overdue(self) -> bool:
        """Stored secrets older than ROTATION_REMINDER_DAYS (federated connections have none to rotate)."""
        return bool(self.secret_fingerprints) and timezone.now() >= self.rotation_due_at

    @property
    def separation_warning(self) -> str:
        """Non-empty when the connection is authorized for development-like and production-like
        environments at once. Reads the (prefetched) authorizations with their environments."""
        return separation_warning([auth.environment for auth in self.authorizations.all()])

    def summary(self) -> list[tuple[str, Any]]:
        """Key public facts for cards (AWS account and region, Azure subscription, subnet...)."""
        spec = self.provider_spec
        labels = {f.name: f.label for f in spec.fields}
        return [(labels.get(name, name), self.config[name]) for name in spec.summary_fields if self.config.get(name)]


class ConnectionUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Connection, on_delete=models.CASCADE)


class ConnectionGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Connection, on_delete=models.CASCADE)


class ConnectionAuthorization(OrgScopedModel):
    """A connection authorized for one environment. Several connections of a provider may be authorized
    for an environment (a production spanning a networking, a workloads and an audit account); exactly
    one of them is its default, which is what automatic selection picks, so selection stays
    deterministic. The conditional unique constraint holds that in the database."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="authorizations")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="authorizations")
    provider = models.CharField(max_length=32, editable=False)
    is_default = models.BooleanField(
        default=False, help_text="Picked when a run names no connection of this provider in this environment."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        default_related_name = "+"  # no org.<accessor>: reach them through connections and environments
        ordering = ["environment__slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "provider"],
                condition=models.Q(is_default=True),
                name="one_default_per_env_and_provider",
            ),
            models.UniqueConstraint(fields=["connection", "environment"], name="authorization_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.connection.name} → {self.environment.slug}"


class ConnectionUsage(OrgScopedModel):
    """One use of a connection's credentials: who or what, for which resource and environment, outcome."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="usages")
    environment = models.CharField(max_length=63, blank=True)
    actor_label = models.CharField(max_length=254)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    purpose = models.CharField(max_length=200, blank=True, help_text="What used it (a run, a test, a sync).")
    resource = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=16, choices=UsageOutcomeChoices.choices)
    error = models.CharField(max_length=1000, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        default_related_name = "+"  # no org.<accessor>: reach them through connections
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connection", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.outcome} {self.created_at:%Y-%m-%d %H:%M}"


class ConnectionRole(OrgScopedModel):
    """An identity Terraform assumes through a connection: an AWS IAM role (ARN + session duration)
    or an Azure service principal (client id + object id, no secret). Validation records what the
    role is granted, what the code needs (detected), what is explicitly denied, and a status."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=100, blank=True, help_text="A label, e.g. networking or compute.")
    role_arn = models.CharField(max_length=2048, blank=True)
    session_duration = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds, 900-43200 (AWS).")
    client_id = models.CharField(max_length=36, blank=True)
    object_id = models.CharField(max_length=36, blank=True)
    status = models.CharField(max_length=16, choices=RoleStatusChoices.choices, default=RoleStatusChoices.PENDING)
    granted_permissions = models.JSONField(default=list, blank=True)
    detected_permissions = models.JSONField(default=list, blank=True)
    denied_permissions = models.JSONField(default=list, blank=True)
    missing_permissions = models.JSONField(default=list, blank=True)
    validation_error = models.TextField(blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    last_valid_at = models.DateTimeField(null=True, blank=True)
    # Least-privilege findings of the last validation that read the policies: [{"code", "message"}].
    advice = models.JSONField(default=list, blank=True)
    # The scheduled re-validation's open alert (connections.role_revalidation): the status it is about
    # (drift, expired, invalid) and its notification, so one condition raises one alert.
    alert_status = models.CharField(max_length=16, blank=True, editable=False)
    alert_notification = models.ForeignKey(
        "accounts.Notification", on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        default_related_name = "+"  # no org.<accessor>: reach them through connections
        ordering = ["connection", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "role_arn"], condition=~models.Q(role_arn=""), name="role_unique_arn"
            ),
            models.UniqueConstraint(
                fields=["connection", "client_id"], condition=~models.Q(client_id=""), name="role_unique_client"
            ),
        ]

    def __str__(self) -> str:
        return self.role_arn or self.client_id or f"role {self.pk}"
