"""State changes of the accounts domain: one `do_*` function per change (Zulip style).

Each checks the policy, changes state in one transaction, and writes its audit event in that same
transaction. Pages, API, admin and commands call these; none of them save these models directly.

Transactions: a `do_*` that is never called inside another transaction is durable
(`transaction.atomic(durable=True)`): when it returns, the change and its audit event are committed,
and calling it inside a transaction raises rather than nesting silently. The others keep a plain
`atomic`, which becomes a savepoint inside the caller's transaction, so the caller's rollback takes the
change and its audit event with it: `do_create_organization`, `do_update_organization`,
`do_create_environment`, `do_add_member` and `do_change_member_role` (the `seed_demo` command seeds
all or nothing), and `do_add_member`, `do_change_member_role`, `do_remove_member` (Django's admin runs
`save_model`/`delete_model` inside its own transaction). Make a new `do_*` durable unless such a
caller exists. Tests may call durable ones: Django's TestCase (pytest-django's `db`) marks its own
wrapping transaction as not counting.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from .actors import split_actor
from .audit import record_event
from .choices import AuditAction, PlanChoices, RoleChoices, role_rank
from .models import TOKEN_PREFIX, APIToken, Environment, Membership, Notification, Organization, User, hash_token
from .policy import Action, check, clear_role_cache, role_in


def _validate(instance: Any, *, unique_field: str | None = None, unique_message: str = "") -> None:
    """Model validation (field rules and unique constraints) as a field-keyed ValidationError.

    Multi-column unique constraints report on no field; `unique_field` names the one a user edits.
    """
    try:
        instance.full_clean(validate_constraints=True)
    except ValidationError as exc:
        errors = exc.message_dict
        if unique_field and NON_FIELD_ERRORS in errors:
            errors.pop(NON_FIELD_ERRORS)
            errors.setdefault(unique_field, []).append(unique_message)
        raise ValidationError(errors) from None


def _insert(instance: Any, *, unique_field: str, unique_message: str) -> None:
    """Insert, turning a unique violation that slipped past validation (a race) into a field error."""
    try:
        with transaction.atomic():
            instance.save(force_insert=True)
    except IntegrityError:
        raise ValidationError({unique_field: unique_message}) from None


# --- Organizations --------------------------------------------------------------------------------


@transaction.atomic
def do_create_organization(*, slug: str, name: str, plan: str = PlanChoices.FREE, acting_user: User) -> Organization:
    """Create an organization with `acting_user` as its first admin."""
    org = Organization(slug=slug, name=name, plan=plan)
    message = f"The organization '{slug}' already exists."
    _validate(org, unique_field="slug", unique_message=message)
    _insert(org, unique_field="slug", unique_message=message)
    Membership.objects.create(user=acting_user, org=org, role=RoleChoices.ADMIN)
    clear_role_cache(acting_user)
    record_event(org=org, action=AuditAction.ORG_CREATED, actor=acting_user, target=org, details={"plan": plan})
    return org


@transaction.atomic
def do_update_organization(
    org: Organization, *, actor: Any, name: str | None = None, plan: str | None = None
) -> Organization:
    """Rename an organization or change its plan (admin)."""
    check(actor, Action.MANAGE_PLAN, org)
    org = Organization.objects.select_for_update().get(pk=org.pk)
    changes: dict[str, dict[str, str]] = {}
    for field, value in (("name", name), ("plan", plan)):
        if value is not None and getattr(org, field) != value:
            changes[field] = {"old": getattr(org, field), "new": value}
            setattr(org, field, value)
    if not changes:
        return org
    _validate(org)
    org.save(update_fields=list(changes))
    record_event(org=org, action=AuditAction.ORG_UPDATED, actor=actor, target=org, details={"changes": changes})
    return org


# --- Environments ---------------------------------------------------------------------------------


@transaction.atomic
def do_create_environment(
    org: Organization, *, actor: Any, slug: str, name: str = "", description: str = ""
) -> Environment:
    check(actor, Action.MANAGE_ENVIRONMENTS, org)
    env = Environment(org=org, slug=slug, name=name or slug, description=description)
    message = f"An environment '{slug}' already exists in {org.slug}."
    _validate(env, unique_field="slug", unique_message=message)
    _insert(env, unique_field="slug", unique_message=message)
    record_event(org=org, action=AuditAction.ENVIRONMENT_CREATED, actor=actor, target=env, environment=env.slug)
    return env


@transaction.atomic(durable=True)
def do_update_environment(
    env: Environment, *, actor: Any, name: str | None = None, description: str | None = None
) -> Environment:
    """Rename or describe an environment. Its slug is fixed: runs and selection refer to it."""
    check(actor, Action.MANAGE_ENVIRONMENTS, env)
    env = Environment.objects.select_for_update().get(pk=env.pk)
    changes: dict[str, dict[str, str]] = {}
    for field, value in (("name", name), ("description", description)):
        if value is not None and getattr(env, field) != value:
            changes[field] = {"old": getattr(env, field), "new": value}
            setattr(env, field, value)
    if not changes:
        return env
    _validate(env)
    env.save(update_fields=[*changes, "updated_at"])
    record_event(
        org=env.org,
        action=AuditAction.ENVIRONMENT_UPDATED,
        actor=actor,
        target=env,
        environment=env.slug,
        details={"changes": changes},
    )
    return env


@transaction.atomic(durable=True)
def do_delete_environment(env: Environment, *, actor: Any) -> None:
    check(actor, Action.MANAGE_ENVIRONMENTS, env)
    org, slug, pk = env.org, env.slug, env.pk
    record_event(
        org=org,
        action=AuditAction.ENVIRONMENT_DELETED,
        actor=actor,
        target=env,
        environment=slug,
        details={"slug": slug, "name": env.name},
    )
    try:
        Environment.objects.filter(pk=pk).delete()
    except ProtectedError as exc:  # e.g. Terraform projects deploy into it: say so instead of a 500
        users = sorted({f"{obj._meta.verbose_name} {obj}" for obj in exc.protected_objects})
        raise ValidationError(
            f"Environment '{slug}' is still used by {', '.join(users[:10])}: move or delete them first."
        ) from None


# --- Members --------------------------------------------------------------------------------------


def _admin_count(org: Organization) -> int:
    return Membership.objects.filter(org=org, role=RoleChoices.ADMIN).count()


def _check_role(role: str) -> None:
    if role not in RoleChoices.values:
        raise ValidationError({"role": f"'{role}' is not a role. Choose one of: {', '.join(RoleChoices.values)}."})


@transaction.atomic
def do_add_member(org: Organization, *, actor: Any, email: str, role: str) -> Membership:
    """Add a user to the organization. An unknown email gets an account with no usable password
    (they set one through the password reset page)."""
    check(actor, Action.MANAGE_MEMBERS, org)
    _check_role(role)
    email = User.objects.normalize_email(email or "").strip().lower()
    probe = User(email=email)
    try:
        probe.clean_fields(exclude=["password"])
    except ValidationError as exc:
        raise ValidationError({"email": exc.message_dict.get("email", ["Enter a valid email address."])}) from exc
    user = User.objects.filter(email__iexact=email).first()
    invited = user is None
    if user is None:
        user = User.objects.create_user(email=email, password=None)
    if Membership.objects.filter(org=org, user=user).exists():
        raise ValidationError({"email": f"{email} is already a member of {org.slug}."})
    membership = Membership.objects.create(org=org, user=user, role=role)
    clear_role_cache(user)
    record_event(
        org=org,
        action=AuditAction.MEMBER_ADDED,
        actor=actor,
        target=membership,
        target_repr=email,
        details={"email": email, "role": role, "new_account": invited},
    )
    return membership


@transaction.atomic
def do_change_member_role(membership: Membership, *, actor: Any, role: str) -> Membership:
    check(actor, Action.MANAGE_MEMBERS, membership)
    _check_role(role)
    membership = Membership.objects.select_for_update().select_related("user", "org").get(pk=membership.pk)
    old = membership.role
    if old == role:
        return membership
    if old == RoleChoices.ADMIN and _admin_count(membership.org) <= 1:
        raise ValidationError({"role": "An organization must keep at least one admin."})
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    clear_role_cache(membership.user)
    record_event(
        org=membership.org,
        action=AuditAction.MEMBER_ROLE_CHANGED,
        actor=actor,
        target=membership,
        target_repr=membership.user.email,
        details={"email": membership.user.email, "old": old, "new": role},
    )
    return membership


@transaction.atomic
def do_remove_member(membership: Membership, *, actor: Any) -> None:
    """Remove a member and revoke their API tokens in that organization."""
    check(actor, Action.MANAGE_MEMBERS, membership)
    membership = Membership.objects.select_for_update().select_related("user", "org").get(pk=membership.pk)
    if membership.role == RoleChoices.ADMIN and _admin_count(membership.org) <= 1:
        raise ValidationError({"non_field_errors": "An organization must keep at least one admin."})
    now = timezone.now()
    revoked = APIToken.objects.filter(org=membership.org, user=membership.user, revoked_at__isnull=True).update(
        revoked_at=now, updated_at=now
    )
    record_event(
        org=membership.org,
        action=AuditAction.MEMBER_REMOVED,
        actor=actor,
        target=membership,
        target_repr=membership.user.email,
        details={"email": membership.user.email, "role": membership.role, "tokens_revoked": revoked},
    )
    membership.delete()
    clear_role_cache(membership.user)


# --- API tokens -----------------------------------------------------------------------------------


def generate_token_value() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic(durable=True)
def do_create_token(
    org: Organization,
    *,
    actor: Any,
    name: str,
    role_cap: str = "",
    expires_at: datetime | None = None,
) -> tuple[APIToken, str]:
    """Create an API token for the acting user; returns (token, value). The value is never stored.

    A token never exceeds the role of whoever creates it: a capped token can only mint tokens
    capped at most as low as itself.
    """
    check(actor, Action.CREATE_OWN_TOKEN, org)
    user, acting_token = split_actor(actor)
    acting_role = role_in(actor, org)
    errors: dict[str, str] = {}
    if not (name or "").strip():
        errors["name"] = "This field is required."
    if role_cap:
        if role_cap not in RoleChoices.values:
            errors["role_cap"] = f"'{role_cap}' is not a role. Choose one of: {', '.join(RoleChoices.values)}."
        elif role_rank(role_cap) > role_rank(acting_role):
            errors["role_cap"] = f"A token cannot have more than your role ({acting_role})."
    elif acting_token is not None and acting_role != role_in(user, org):
        role_cap = acting_role or ""
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "The expiry must be in the future."
    if errors:
        raise ValidationError(errors)
    value = generate_token_value()
    token = APIToken.objects.create(
        user=user,
        org=org,
        name=name.strip()[:100],
        key_hash=hash_token(value),
        prefix=value[:12],
        role_cap=role_cap or "",
        expires_at=expires_at,
    )
    record_event(
        org=org,
        action=AuditAction.TOKEN_CREATED,
        actor=actor,
        target=token,
        details={
            "token_name": token.name,
            "token_prefix": token.prefix,
            "role_cap": token.role_cap,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token, value


@transaction.atomic(durable=True)
def do_revoke_token(token: APIToken, *, actor: Any) -> APIToken:
    """Revoke a token: its owner may revoke their own; admins may revoke anyone's."""
    user, _ = split_actor(actor)
    if user is None or token.user_id != user.pk:
        check(actor, Action.MANAGE_TOKENS, token)
    else:
        check(actor, Action.CREATE_OWN_TOKEN, token)
    token = APIToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at", "updated_at"])
    record_event(
        org=token.org,
        action=AuditAction.TOKEN_REVOKED,
        actor=actor,
        target=token,
        details={"token_name": token.name, "token_prefix": token.prefix},
    )
    return token


def authenticate_for_token(org_slug: str, user: User) -> Organization:
    """The organization a freshly authenticated user asks a token for; they must be a member."""
    org = Organization.objects.filter(slug=org_slug).first()
    if org is None or role_in(user, org) is None:
        raise ValidationError({"org": "You are not a member of this organization."})
    return org


# --- Notifications --------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def do_dismiss_notification(notification: Notification, *, actor: Any) -> Notification:
    """Dismiss an alert for the whole organization (users and up: the people who act on connections)."""
    check(actor, Action.TEST_CONNECTION, notification)
    notification = Notification.objects.select_for_update().get(pk=notification.pk)
    if notification.dismissed_at is not None:
        return notification
    notification.dismissed_at = timezone.now()
    notification.save(update_fields=["dismissed_at", "updated_at"])
    record_event(
        org=notification.org, action=AuditAction.NOTIFICATION_DISMISSED, actor=actor,
        target_repr=notification.title, details={"notification_id": notification.pk},
    )
    return notification
