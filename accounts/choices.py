"""Choice sets as classes (NetBox style): constants for code, one CHOICES list with labels."""

from django.db import models


class PlanChoices(models.TextChoices):
    FREE = "free", "Free"
    STARTER = "starter", "Starter"
    ENTERPRISE = "enterprise", "Enterprise"


PLAN_ORDER = {PlanChoices.FREE: 0, PlanChoices.STARTER: 1, PlanChoices.ENTERPRISE: 2}


class RoleChoices(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    USER = "user", "User"
    PROVISIONER = "provisioner", "Provisioner"
    ADMIN = "admin", "Admin"


# Roles are ordered: each one can do everything the ones before it can.
ROLE_ORDER = {RoleChoices.VIEWER: 0, RoleChoices.USER: 1, RoleChoices.PROVISIONER: 2, RoleChoices.ADMIN: 3}


def role_rank(role: str | None) -> int:
    """Rank of a role; unknown or missing roles rank below viewer."""
    return ROLE_ORDER.get(role, -1) if role else -1


class ActorTypeChoices(models.TextChoices):
    USER = "user", "User"
    TOKEN = "token", "API token"
    SYSTEM = "system", "System"
