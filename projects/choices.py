"""Choices of the projects app (statuses and kinds), in one place like accounts.choices."""

from django.db import models


class SourceKind(models.TextChoices):
    ARCHIVE = "archive", "Uploaded archive"
    GIT = "git", "Git repository"


class RunKind(models.TextChoices):
    PLAN = "plan", "Plan"
    APPLY = "apply", "Apply"
    DESTROY = "destroy", "Destroy"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    BLOCKED = "blocked", "Blocked"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.BLOCKED)
# Kinds that change infrastructure: at most one of them is queued or running per project.
CHANGING_KINDS = (RunKind.APPLY, RunKind.DESTROY)
