"""Accounts domain: users, organizations, environments, memberships, API tokens and the audit trail."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from .choices import ActorTypeChoices, AuditAction, PlanChoices, RoleChoices, role_rank
from .policy import restrict
from .querysets import RestrictedQuerySet

__all__ = [
    "APIToken",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "Environment",
    "Invitation",
    "Membership",
    "Notification",
    "OrgScopedModel",
    "Organization",
    "OrganizationGroupObjectPermission",
    "OrganizationUserObjectPermission",
    "User",
]

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
    "Use lowercase letters, digits and dashes; start and end with a letter or digit (at most 63 characters).",
)


class UserManager(BaseUserManager["User"]):
    """Creates users whose login is their email address."""

    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # Emails are stored lowercased; logins are case-insensitive.
        return self.get(email__iexact=username or "")


class User(AbstractBaseUser, PermissionsMixin):
    """A person. The email address is the login; roles come from memberships in organizations."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May log into the Django admin site.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Organization(models.Model):
    """A tenant. Everything else (environments, connections, audit) belongs to exactly one."""

    slug = models.SlugField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=20, choices=PlanChoices.choices, default=PlanChoices.FREE)
    created_at = models.DateTimeField(auto_now_add=True)
    # login hardening: admins must use two-factor authentication in this organization
    require_admin_2fa = models.BooleanField(
        default=False, help_text="Admins must sign in with two-factor authentication to act in this organization."
    )

    objects = RestrictedQuerySet.as_manager()
    org_field = ""

    class Meta:
        ordering = ["slug"]
        permissions = [
            ("manage_members", "Can manage members"),
            ("manage_environments", "Can manage environments"),
            ("read_audit", "Can read the audit trail"),
        ]

    def __str__(self) -> str:
        return self.slug


class OrganizationUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key grant table (django-guardian): no generic-relation joins on checks."""

    content_object = models.ForeignKey(Organization, on_delete=models.CASCADE)


class OrganizationGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Organization, on_delete=models.CASCADE)


class OrgScopedModel(models.Model):
    """Base of every row that belongs to one organization: its `org`, `.objects.restrict()`, and timestamps.

    `org` cascades with the organization. Its reverse accessor is named by each model's
    `Meta.default_related_name` (`org.environments`, `org.connections`; "+" for none), so no model
    redefines the field. `created_at` is set on insert; a model whose rows are written with an
    explicit time (usage history, alerts) overrides it with `default=timezone.now`. `updated_at`
    follows every `save()`; a `save(update_fields=...)` or `.update()` that changes a row names it.
    AuditEvent is not one of these: it is append-only, has its own manager, and may have no org.
    """

    org = models.ForeignKey(Organization, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()
    org_field = "org"  # what `restrict()` filters on (see policy.restrict)

    class Meta:
        abstract = True


class Environment(OrgScopedModel):
    """A deployment target inside an organization (development, staging, production, ...)."""

    slug = models.SlugField(max_length=63, validators=[slug_validator])
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)

    class Meta:
        default_related_name = "environments"
        ordering = ["slug"]
        constraints = [models.UniqueConstraint(fields=["org", "slug"], name="environment_unique_slug_per_org")]

    def __str__(self) -> str:
        return f"{self.org.slug}/{self.slug}"


class Membership(OrgScopedModel):
    """A user's role in one organization. A user can belong to several organizations."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=RoleChoices.choices, default=RoleChoices.VIEWER)

    class Meta:
        default_related_name = "memberships"
        ordering = ["org", "user__email"]
        constraints = [models.UniqueConstraint(fields=["user", "org"], name="membership_unique_user_org")]

    def __str__(self) -> str:
        return f"{self.user.email} @ {self.org.slug} ({self.role})"


TOKEN_PREFIX = "ccp_"


def hash_token(raw: str) -> str:
    """SHA-256 of a token value. Tokens carry 256 bits of randomness, so an unsalted hash is safe."""
    return hashlib.sha256(raw.encode()).hexdigest()


class APIToken(OrgScopedModel):
    """A bearer token for one user in one organization. Only its hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False, help_text="First characters, to recognise a token.")
    role_cap = models.CharField(
        max_length=20,
        choices=RoleChoices.choices,
        blank=True,
        help_text="When set, the token acts with at most this role.",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The token that minted this one (None: created by a signed-in person). A child never outlives or
    # outranks its parent, and revoking a token revokes its descendants (services.do_revoke_token).
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="minted", editable=False
    )

    class Meta:
        default_related_name = "api_tokens"
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and not self.is_expired and self.user.is_active

    def effective_role(self, member_role: str | None) -> str | None:
        """The role this token acts with: the user's role, lowered to the cap when one is set."""
        if member_role is None:
            return None
        if self.role_cap and role_rank(self.role_cap) < role_rank(member_role):
            return self.role_cap
        return member_role


class Invitation(OrgScopedModel):
    """An offer to join an organization with a role, sent to an e-mail address.

    Adding a member is an invitation: the invitee accepts through the mailed link (signed in with that
    e-mail, or creating the account on accept), so an admin never learns whether an account exists or
    what its owner is called. Only the hash of the link's token is stored.
    """

    email = models.EmailField()
    role = models.CharField(max_length=20, choices=RoleChoices.choices, default=RoleChoices.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The link's token is HMAC(SECRET_KEY, nonce): a task rebuilds it from the row (no secret in a
    # task message) and a database reader cannot. A new nonce (resend) invalidates the old link.
    nonce = models.CharField(max_length=32, editable=False)
    expires_at = models.DateTimeField()
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_related_name = "invitations"
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} -> {self.org.slug} ({self.role})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    def link_token(self) -> str:
        """The link's secret, rebuilt from the nonce with a SECRET_KEY-derived key (never stored)."""
        return salted_hmac("accounts.invitation", self.nonce, algorithm="sha256").hexdigest()

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired else "pending"


class AppendOnlyQuerySet(models.QuerySet):
    """Audit rows are never changed or removed through the ORM."""

    def update(self, **kwargs: Any) -> int:
        raise TypeError("Audit events are append-only: they cannot be updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("Audit events are append-only: they cannot be deleted.")

    def restrict(self, actor: Any, action: str) -> AppendOnlyQuerySet:
        return restrict(self, actor, action)


class AuditEvent(models.Model):
    """One recorded change or secret use. Append-only and hash-chained per organization.

    `seq` numbers the events of one organization without gaps and `prev_hash` holds the hash of the
    event before, so a modified, removed or inserted row breaks the chain (`manage.py verify_audit`).
    """

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="audit_events", null=True)
    seq = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_type = models.CharField(max_length=10, choices=ActorTypeChoices.choices)
    # DO_NOTHING without a database constraint: deleting a user or token must not rewrite (and so
    # break) the chained rows that name them; actor_label keeps who it was.
    actor_user = models.ForeignKey(
        User, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    actor_token = models.ForeignKey(
        APIToken, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=254, help_text="Who acted, as shown at the time (kept if deleted).")
    action = models.CharField(max_length=64, choices=AuditAction.choices, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=255, blank=True)
    environment = models.CharField(max_length=63, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["org", "seq"], name="auditevent_unique_seq_per_org")]
        indexes = [
            models.Index(fields=["org", "-created_at"]),
            models.Index(fields=["org", "target_type", "target_id"]),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise TypeError("Audit events are append-only: they cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("Audit events are append-only: they cannot be deleted.")

    def canonical(self) -> str:
        """The exact bytes the hash covers; every field a reader relies on is in it."""
        return json.dumps(
            {
                "org": self.org_id,
                "seq": self.seq,
                "created_at": self.created_at.isoformat(),
                "actor_type": self.actor_type,
                "actor_user": self.actor_user_id,
                "actor_token": self.actor_token_id,
                "actor_label": self.actor_label,
                "action": self.action,
                "target_type": self.target_type,
                "target_id": self.target_id,
                "target_repr": self.target_repr,
                "environment": self.environment,
                "request_id": self.request_id,
                "client_ip": self.client_ip,
                "details": self.details,
                "prev_hash": self.prev_hash,
            },
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()


class Notification(OrgScopedModel):
    """Something an organization's admins should see (e.g. a connection started failing its health
    check). Shown in the UI until dismissed; mailed and posted to a webhook when those are configured."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    level = models.CharField(max_length=10, choices=Level.choices, default=Level.WARNING)
    title = models.CharField(max_length=200)
    message = models.CharField(max_length=1000, blank=True)
    url = models.CharField(max_length=500, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_related_name = "notifications"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["org", "dismissed_at"])]

    def __str__(self) -> str:
        return self.title


def chain_key(org_id: int | None) -> str:
    """The name of an audit chain: one per organization, and "platform" for the org-less one."""
    return "platform" if org_id is None else f"org:{org_id}"


class AuditHead(models.Model):
    """Where an audit chain ends: its last sequence number and hash, and how many events it holds.

    Updated by `record_event` in the same transaction as the event it appends, so deleting the newest
    events of a chain leaves a head that points past them (`verify_audit` reports it).
    """

    chain = models.CharField(max_length=32, unique=True)
    org = models.OneToOneField(Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    count = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.chain} @ #{self.last_seq}"


class AuditCheckpoint(models.Model):
    """A signed statement "chain X had N events ending in hash H at time T" (Celery beat, hourly).

    The HMAC (a key derived from SECRET_KEY) means a database writer cannot forge one; `verify_audit`
    checks the newest checkpoint of each chain against the rows and the head, so rewinding both the
    events and the head still shows.
    """

    chain = models.CharField(max_length=32, db_index=True)
    org = models.ForeignKey(Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    signature = models.CharField(max_length=64)

    class Meta:
        ordering = ["chain", "-seq"]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="auditcheckpoint_unique_chain_seq")]

    def __str__(self) -> str:
        return f"{self.chain} #{self.seq}"

    def signed_payload(self) -> str:
        return f"{self.chain}|{self.seq}|{self.hash}|{self.created_at.isoformat()}"
