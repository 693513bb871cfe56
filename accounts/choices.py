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
    ORG_PLAN_CHANGED = "org.plan_changed", "Plan changed (billing)"
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
    CONNECTION_DEFAULT_SET = "connection.default_set", "Default connection of an environment set"
    CONNECTION_CREDENTIALS_USED = "connection.credentials_used", "Credentials used"
    CONNECTION_KEY_REWRAPPED = "connection.key_rewrapped", "Data key re-wrapped"
    CONNECTION_OAUTH_CONNECTED = "connection.oauth_connected", "Connected with OAuth"
    CONNECTION_OAUTH_REFRESHED = "connection.oauth_refreshed", "OAuth token refreshed"
    CONNECTION_TESTED = "connection.tested", "Connection tested"
    CONNECTION_ALERT = "connection.alert", "Connection alert raised"
    CONNECTION_ALERT_RESOLVED = "connection.alert_resolved", "Connection alert resolved"
    # Connection roles
    CONNECTION_ROLE_ADDED = "connection_role.added", "Connection role added"
    CONNECTION_ROLE_VALIDATED = "connection_role.validated", "Connection role validated"
    CONNECTION_ROLE_DELETED = "connection_role.deleted", "Connection role deleted"
    # Site-to-site VPNs (vpn app)
    VPN_CREATED = "vpn.created", "VPN created"
    VPN_PROVISION_REQUESTED = "vpn.provision_requested", "VPN provisioning requested"
    VPN_PROVISIONED = "vpn.provisioned", "VPN provisioned"
    VPN_PROVISION_FAILED = "vpn.provision_failed", "VPN provisioning failed"
    VPN_DESTROY_REQUESTED = "vpn.destroy_requested", "VPN teardown requested"
    VPN_DESTROYED = "vpn.destroyed", "VPN destroyed"
    VPN_DESTROY_FAILED = "vpn.destroy_failed", "VPN teardown failed"
    VPN_HEALTH_CHECKED = "vpn.health_checked", "VPN health checked"
    VPN_ROUTER_CONFIG_DOWNLOADED = "vpn.router_config_downloaded", "Router configuration downloaded"
    VPN_KEY_REWRAPPED = "vpn.key_rewrapped", "VPN keys' data key re-wrapped"
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
    # --- finish-advice: rotation reminders and the scheduled role re-validation (connections/reminders.py,
    # connections/role_revalidation.py)
    CONNECTION_ROTATION_REMINDED = "connection.rotation_reminded", "Credentials rotation reminder sent"
    CONNECTION_ROTATION_REMINDER_RESOLVED = (
        "connection.rotation_reminder_resolved",
        "Credentials rotation reminder resolved",
    )
    CONNECTION_ROLE_ALERT = "connection_role.alert", "Connection role alert raised"
    CONNECTION_ROLE_ALERT_RESOLVED = "connection_role.alert_resolved", "Connection role alert resolved"
    # --- end finish-advice
    # --- accounts hardening: the admin site, invitations, token lineage, permission denials, checkpoints
    ADMIN_CHANGE = "admin.change", "Changed through the admin site"
    INVITATION_SENT = "invitation.sent", "Invitation sent"
    INVITATION_RESENT = "invitation.resent", "Invitation sent again"
    INVITATION_REVOKED = "invitation.revoked", "Invitation revoked"
    INVITATION_ACCEPTED = "invitation.accepted", "Invitation accepted"
    PERMISSION_DENIED = "permission.denied", "Permission denied"
    # FinOps (cost sync, budgets, alerts)
    FINOPS_SYNC_REQUESTED = "finops.sync_requested", "Cost sync requested"
    FINOPS_SYNC_COMPLETED = "finops.sync_completed", "Cost sync completed"
    FINOPS_SYNC_FAILED = "finops.sync_failed", "Cost sync failed"
    FINOPS_BUDGET_CREATED = "finops.budget_created", "Budget created"
    FINOPS_BUDGET_UPDATED = "finops.budget_updated", "Budget updated"
    FINOPS_BUDGET_DELETED = "finops.budget_deleted", "Budget deleted"
    FINOPS_BUDGET_ALERT = "finops.budget_alert", "Budget threshold alert raised"
    FINOPS_ANOMALY_ALERT = "finops.anomaly_alert", "Cost anomaly alert raised"
