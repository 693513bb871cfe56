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
    ANONYMOUS = "anonymous", "Anonymous"  # login hardening: a signed-out request (failed login, reset request)


class AuditAction(models.TextChoices):
    """Every audit event type of the platform, in one place (Zulip style): `area.verb` strings, grouped
    by area, so the audit page can offer the list and a typo is an AttributeError, not a new action.

    Convention: the constant is the value in capitals with the dot as an underscore.
    """

    # Organizations, environments, members, tokens, alerts
    ORG_CREATED = "org.created", "Organization created"
    ORG_UPDATED = "org.updated", "Organization updated"
    ENVIRONMENT_CREATED = "environment.created", "Environment created"
    ENVIRONMENT_UPDATED = "environment.updated", "Environment updated"
    ENVIRONMENT_DELETED = "environment.deleted", "Environment deleted"
    MEMBER_ADDED = "member.added", "Member added"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member role changed"
    MEMBER_REMOVED = "member.removed", "Member removed"
    TOKEN_CREATED = "token.created", "API token created"
    TOKEN_REVOKED = "token.revoked", "API token revoked"
    NOTIFICATION_DISMISSED = "notification.dismissed", "Alert dismissed"
    # Connections
    CONNECTION_CREATED = "connection.created", "Connection created"
    CONNECTION_UPDATED = "connection.updated", "Connection updated"
    CONNECTION_CREDENTIALS_ROTATED = "connection.credentials_rotated", "Credentials rotated"
    CONNECTION_ACTIVATED = "connection.activated", "Connection activated"
    CONNECTION_DEACTIVATED = "connection.deactivated", "Connection deactivated"
    CONNECTION_DELETED = "connection.deleted", "Connection deleted"
    CONNECTION_AUTHORIZED = "connection.authorized", "Connection authorized for an environment"
    CONNECTION_DEAUTHORIZED = "connection.deauthorized", "Connection authorization revoked"
    CONNECTION_CREDENTIALS_USED = "connection.credentials_used", "Credentials used"
    CONNECTION_KEY_REWRAPPED = "connection.key_rewrapped", "Data key re-wrapped"
    CONNECTION_TESTED = "connection.tested", "Connection tested"
    CONNECTION_ALERT = "connection.alert", "Connection alert raised"
    # Connection roles
    CONNECTION_ROLE_ADDED = "connection_role.added", "Connection role added"
    CONNECTION_ROLE_VALIDATED = "connection_role.validated", "Connection role validated"
    CONNECTION_ROLE_DELETED = "connection_role.deleted", "Connection role deleted"
    # Terraform projects and runs
    PROJECT_CREATED = "project.created", "Terraform project created"
    PROJECT_UPDATED = "project.updated", "Terraform project updated"
    PROJECT_DELETED = "project.deleted", "Terraform project deleted"
    PROJECT_RUN_QUEUED = "project_run.queued", "Terraform run queued"
    PROJECT_RUN_FINISHED = "project_run.finished", "Terraform run finished"
    PROJECT_RUN_CANCEL_REQUESTED = "project_run.cancel_requested", "Terraform run cancel requested"
    # The platform's OIDC issuer (platform-level events: no organization)
    OIDC_KEY_CREATED = "oidc_key.created", "OIDC signing key created"
    OIDC_KEY_ROTATED = "oidc_key.rotated", "OIDC signing key rotated"
    OIDC_KEY_RETIRED = "oidc_key.retired", "OIDC signing key retired"
    OIDC_KEY_REWRAPPED = "oidc_key.rewrapped", "OIDC signing key re-wrapped"
    # --- login hardening: authentication (platform-level events, org=None; see accounts/authn/services.py)
    AUTH_LOGIN_FAILED = "auth.login_failed", "Login failed"
    AUTH_LOCKED_OUT = "auth.locked_out", "Login attempts held (lockout or delay)"
    AUTH_PASSWORD_CHANGED = "auth.password_changed", "Password changed"
    AUTH_PASSWORD_RESET_REQUESTED = "auth.password_reset_requested", "Password reset requested"
    AUTH_PASSWORD_RESET_COMPLETED = "auth.password_reset_completed", "Password reset completed"
    AUTH_TWO_FACTOR_ENABLED = "auth.two_factor_enabled", "Two-factor authentication turned on"
    AUTH_TWO_FACTOR_DISABLED = "auth.two_factor_disabled", "Two-factor authentication turned off"
    AUTH_RECOVERY_CODE_USED = "auth.recovery_code_used", "Recovery code used"
    ORG_SECURITY_UPDATED = "org.security_updated", "Organization security settings changed"
    # --- end login hardening
