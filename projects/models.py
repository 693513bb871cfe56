"""Terraform projects, their runs, and each run's log lines.

A project names its connection (or none: selected automatically for its environment at each run), the
connection role Terraform works as, an optional state backend connection, non-secret variables and a
source: an uploaded archive (stored as validated bytes) or a Git repository read through a Git
connection. Runs are rows a Celery task executes; their log is stored line by line (masked) so a page
can tail it with `?after=<seq>`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from accounts.models import Environment, OrgScopedModel
from connections.models import Connection, ConnectionRole

from .choices import CHANGING_KINDS, RunKind, RunStatus, SourceKind

project_name_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
    "Use 3-63 lowercase letters, digits and dashes, starting and ending with a letter or digit.",
)


class TerraformProject(OrgScopedModel):
    name = models.CharField(max_length=63, validators=[project_name_validator])
    description = models.CharField(max_length=500, blank=True)
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="projects")
    provider = models.CharField(max_length=32, help_text="The cloud provider code (the connection's provider).")
    # Null: chosen automatically (select_connection) for the environment at each run.
    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, null=True, blank=True, related_name="projects")
    # A deleted role leaves the project without one: its runs are then blocked until a role is chosen.
    role = models.ForeignKey(ConnectionRole, on_delete=models.SET_NULL, null=True, blank=True, related_name="projects")
    backend_connection = models.ForeignKey(
        Connection, on_delete=models.PROTECT, null=True, blank=True, related_name="backend_projects"
    )
    variables = models.JSONField(default=dict, blank=True, help_text="Non-secret Terraform variables.")
    source_kind = models.CharField(max_length=16, choices=SourceKind.choices, default=SourceKind.ARCHIVE)
    archive = models.BinaryField(blank=True, editable=False)
    archive_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    archive_files = models.JSONField(default=list, blank=True, editable=False)
    git_connection = models.ForeignKey(
        Connection, on_delete=models.PROTECT, null=True, blank=True, related_name="git_projects"
    )
    git_url = models.CharField(max_length=500, blank=True)
    git_ref = models.CharField(max_length=255, blank=True, default="")
    git_subdirectory = models.CharField(max_length=255, blank=True)
    # Terraform state of a project without a backend connection, encrypted like connection secrets.
    local_state_envelope = models.TextField(blank=True, editable=False)
    detected_types = models.JSONField(default=list, blank=True, editable=False)
    detected_permissions = models.JSONField(default=list, blank=True, editable=False)
    unmapped_types = models.JSONField(default=list, blank=True, editable=False)
    detection_error = models.CharField(max_length=1000, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        default_related_name = "projects"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="project_unique_name_per_org")]

    def __str__(self) -> str:
        return self.name


class TerraformRun(OrgScopedModel):
    project = models.ForeignKey(TerraformProject, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=16, choices=RunKind.choices)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    # What the run used (kept even if the project changes later: usage analytics read these).
    connection = models.ForeignKey(Connection, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    environment = models.CharField(max_length=63, blank=True)
    reason = models.CharField(max_length=1000, blank=True, help_text="Why it is blocked or failed.")
    warnings = models.JSONField(default=list, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    plan_add = models.PositiveIntegerField(null=True, blank=True)
    plan_change = models.PositiveIntegerField(null=True, blank=True)
    plan_destroy = models.PositiveIntegerField(null=True, blank=True)
    resources = models.JSONField(default=list, blank=True, help_text="Resource addresses in the state afterwards.")
    missing_permissions = models.JSONField(default=list, blank=True)
    cancel_requested = models.BooleanField(default=False)
    worker_pid = models.IntegerField(null=True, blank=True, editable=False)
    log_lines = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=254, blank=True)

    class Meta:
        default_related_name = "+"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["org", "-created_at"]), models.Index(fields=["project", "-created_at"])]
        constraints = [
            # One apply (or destroy) at a time per project, held by the database, not by a check-then-insert.
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(kind__in=CHANGING_KINDS) & Q(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]),
                name="one_active_change_per_project",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}#{self.pk} {self.kind}"

    @property
    def finished(self) -> bool:
        return self.status not in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def has_plan_summary(self) -> bool:
        return self.plan_add is not None


class RunLogLine(models.Model):
    """One line of a run's output, already masked. `seq` starts at 1 per run."""

    run = models.ForeignKey(TerraformRun, on_delete=models.CASCADE, related_name="lines")
    seq = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="run_log_line_unique_seq")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.seq}"
