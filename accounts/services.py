"""State changes of the accounts domain: one `do_*` function per change (Zulip style).

Each checks the policy, changes state in one transaction, and writes its audit event in that same
transaction. Pages, API, admin and commands call these; none of them save these models directly.

Transactions: a `do_*` that is never called inside another transaction is durable
(`transaction.atomic(durable=True)`): when it returns, the change and its audit event are committed,
and calling it inside a transaction raises rather than nesting silently. The others keep a plain
`atomic`, which becomes a savepoint inside the caller's transaction, so the caller's rollback takes the
change and its audit event with it: `do_create_organization`, `do_update_organization`,
`do_create_environment`, `do_add_member` and `do_change_member_role` (the `seed_demo` command seeds
all or nothing), `do_change_plan` (Django's admin runs `save_model` inside its own transaction), and
`do_remove_member`. Make a new `do_*` durable unless such a caller exists. Tests may call durable
ones: Django's TestCase (pytest-django's `db`) marks its own wrapping transaction as not counting.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from core.queue import send_on_commit

from .actors import SYSTEM, PlatformOperator, acting_user, split_actor
from .audit import record_event
from .choices import PLAN_ORDER, AuditAction, PlanChoices, RoleChoices, role_rank
from .models import (
    TOKEN_PREFIX,
    APIToken,
    Environment,
    Invitation,
    Membership,
    Notification,
    Organization,
    User,
    hash_token,
)
from .plans import plan_violations
from .policy import Action, check, clear_role_cache, role_in
from .tasks import send_invitation_email


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


PLAN_IS_BILLING = "The plan is set by billing (a platform operator), not by the organization's admins."


@transaction.atomic
def do_update_organization(
    org: Organization, *, actor: Any, name: str | None = None, plan: str | None = None
) -> Organization:
    """Rename an organization (admin). `plan` is accepted only to refuse a change of it with a field
    error: the plan is billing (`do_change_plan`), so a member can never raise their own limits."""
    check(actor, Action.MANAGE_PLAN, org)
    org = Organization.objects.select_for_update().get(pk=org.pk)
    if plan is not None and plan != org.plan:
        raise ValidationError({"plan": PLAN_IS_BILLING})
    changes: dict[str, dict[str, str]] = {}
    if name is not None and org.name != name:
        changes["name"] = {"old": org.name, "new": name}
        org.name = name
    if not changes:
        return org
    _validate(org)
    org.save(update_fields=list(changes))
    record_event(org=org, action=AuditAction.ORG_UPDATED, actor=actor, target=org, details={"changes": changes})
    return org


def _check_operator(actor: Any) -> None:
    """Platform-level changes (the plan): a platform operator, or the platform itself (a billing hook
    through a management command). Organization members, whatever their role, are refused."""
    if actor is SYSTEM or (isinstance(actor, PlatformOperator) and actor.is_valid):
        return
    raise PermissionDenied("Only a platform operator or the billing system can change an organization's plan.")


def check_plan_change(org: Organization, plan: str) -> None:
    """Raise a `plan` field error when `plan` is unknown or `org` uses more than it allows (each
    registered limit says what exceeds it, e.g. connections that need a higher plan)."""
    if plan not in PlanChoices.values:
        raise ValidationError({"plan": f"'{plan}' is not a plan. Choose one of: {', '.join(PlanChoices.values)}."})
    if PLAN_ORDER[plan] < PLAN_ORDER[org.plan] and (reasons := plan_violations(org, plan)):
        label = PlanChoices(plan).label
        raise ValidationError({"plan": [f"'{org.slug}' cannot move to the {label} plan: {r}" for r in reasons]})


@transaction.atomic
def do_change_plan(org: Organization, *, plan: str, actor: Any) -> Organization:
    """Change an organization's plan (billing). A downgrade is refused while the organization is over
    the new plan's limits, naming each one. Not durable: the admin site calls it inside its own
    transaction."""
    _check_operator(actor)
    org = Organization.objects.select_for_update().get(pk=org.pk)
    if org.plan == plan:
        return org
    check_plan_change(org, plan)
    old = org.plan
    org.plan = plan
    org.save(update_fields=["plan"])
    record_event(
        org=org, action=AuditAction.ORG_PLAN_CHANGED, actor=actor, target=org, details={"old": old, "new": plan}
    )
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
    """Add a user to the organization directly, for the `seed_demo` command only. Pages and the API
    invite (`do_invite_member`): this answer differs for an unknown e-mail (an account with no usable
    password is created), which an organization admin must never learn."""
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


# --- Invitations ----------------------------------------------------------------------------------
#
# Adding someone is an invitation: the admin's answer, page and audit event are the same whether the
# e-mail has an account or not (nothing here even looks); the invitee proves they own the address by
# following the mailed link, signed in with that e-mail or creating the account there.

def _arm_invitation(invitation: Invitation) -> None:
    """A new nonce (so any earlier link stops working), its token's hash, and a fresh expiry."""
    invitation.nonce = secrets.token_hex(16)
    invitation.token_hash = hash_token(invitation.link_token())
    invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_EXPIRY_DAYS)
    invitation.sent_at = timezone.now()


def _send_invitation(invitation: Invitation, *, domain: str, use_https: bool) -> None:
    send_on_commit(send_invitation_email, invitation.pk, domain=domain, use_https=use_https)


@transaction.atomic(durable=True)
def do_invite_member(
    org: Organization, *, actor: Any, email: str, role: str, domain: str, use_https: bool = True
) -> Invitation:
    """Invite `email` to join with `role` (admins). An open invitation to the same address is sent again
    with a new link. Whether an account exists is never looked up here."""
    check(actor, Action.MANAGE_MEMBERS, org)
    _check_role(role)
    email = User.objects.normalize_email(email or "").strip().lower()
    try:
        User(email=email).clean_fields(exclude=["password"])
    except ValidationError as exc:
        raise ValidationError({"email": exc.message_dict.get("email", ["Enter a valid email address."])}) from exc
    if Membership.objects.filter(org=org, user__email__iexact=email).exists():
        # Members are listed on the members page: saying so tells the admin nothing new.
        raise ValidationError({"email": f"{email} is already a member of {org.slug}."})
    invitation = (
        Invitation.objects.select_for_update()
        .filter(org=org, email=email, accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    resent = invitation is not None
    if invitation is None:
        invitation = Invitation(org=org, email=email)
    invitation.role = role
    invitation.invited_by = acting_user(actor)
    _arm_invitation(invitation)
    if resent:
        invitation.save()
    else:
        _insert(invitation, unique_field="email", unique_message=f"{email} already has an open invitation.")
    record_event(
        org=org,
        action=AuditAction.INVITATION_RESENT if resent else AuditAction.INVITATION_SENT,
        actor=actor,
        target=invitation,
        target_repr=email,
        details={"email": email, "role": role},
    )
    _send_invitation(invitation, domain=domain, use_https=use_https)
    return invitation


@transaction.atomic(durable=True)
def do_resend_invitation(invitation: Invitation, *, actor: Any, domain: str, use_https: bool = True) -> Invitation:
    """Mail an open invitation again with a new link and a new expiry (the old link stops working)."""
    check(actor, Action.MANAGE_MEMBERS, invitation)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise ValidationError({"non_field_errors": f"This invitation is {invitation.status}: it cannot be sent again."})
    invitation.invited_by = acting_user(actor)
    _arm_invitation(invitation)
    invitation.save()
    record_event(
        org=invitation.org, action=AuditAction.INVITATION_RESENT, actor=actor, target=invitation,
        target_repr=invitation.email, details={"email": invitation.email, "role": invitation.role},
    )  # fmt: skip
    _send_invitation(invitation, domain=domain, use_https=use_https)
    return invitation


@transaction.atomic(durable=True)
def do_revoke_invitation(invitation: Invitation, *, actor: Any) -> Invitation:
    """Withdraw an open invitation: its link stops working."""
    check(actor, Action.MANAGE_MEMBERS, invitation)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise ValidationError({"non_field_errors": "This invitation was already accepted."})
    if invitation.revoked_at is not None:
        return invitation
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at", "updated_at"])
    record_event(
        org=invitation.org, action=AuditAction.INVITATION_REVOKED, actor=actor, target=invitation,
        target_repr=invitation.email, details={"email": invitation.email, "role": invitation.role},
    )  # fmt: skip
    return invitation


INVALID_INVITATION = (
    "This invitation link is not valid: it was revoked, already used, replaced by a newer one, or expired."
)


def find_invitation(token: str) -> Invitation | None:
    """The open, unexpired invitation a link's token names, or None (one answer for every failure)."""
    if not token or len(token) > 128:
        return None
    invitation = (
        Invitation.objects.select_related("org", "invited_by")
        .filter(token_hash=hash_token(token), accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if invitation is None or invitation.is_expired:
        return None
    return invitation


@transaction.atomic(durable=True)
def do_accept_invitation(
    token: str, *, user: User | None = None, password: str = "", full_name: str = ""
) -> tuple[Invitation, User]:
    """Join through an invitation link: as the signed-in `user` whose e-mail is the invited one, or by
    creating that account with `password`. Returns (invitation, user)."""
    invitation = find_invitation(token)
    if invitation is None:
        raise ValidationError({"non_field_errors": INVALID_INVITATION})
    invitation = Invitation.objects.select_for_update().select_related("org").get(pk=invitation.pk)
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise ValidationError({"non_field_errors": INVALID_INVITATION})
    if user is not None and user.is_authenticated:
        if user.email.lower() != invitation.email.lower():
            raise ValidationError(
                {"non_field_errors": "This invitation is for another e-mail address: sign in with that one."}
            )
    else:
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise ValidationError({"non_field_errors": "An account with this e-mail exists: sign in to accept."})
        user = User(email=invitation.email, full_name=(full_name or "").strip()[:150])
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from None
        user.set_password(password)
        user.save()
    if not Membership.objects.filter(org=invitation.org, user=user).exists():
        membership = Membership.objects.create(org=invitation.org, user=user, role=invitation.role)
    else:
        membership = Membership.objects.get(org=invitation.org, user=user)
    clear_role_cache(user)
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    record_event(
        org=invitation.org, action=AuditAction.INVITATION_ACCEPTED, actor=user, target=membership,
        target_repr=invitation.email, details={"email": invitation.email, "role": membership.role,
                                               "invitation_id": invitation.pk},
    )  # fmt: skip
    return invitation, user


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
    capped at most as low as itself. A token minted by a token records it as `parent`, and never
    outlives it (no expiry given: the parent's).
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
    if acting_token is not None and acting_token.expires_at is not None:
        # A minted token never outlives the token that minted it; no expiry given means the parent's.
        if expires_at is None:
            expires_at = acting_token.expires_at
        elif expires_at > acting_token.expires_at:
            errors["expires_at"] = (
                f"A token cannot outlive the token creating it (which expires {acting_token.expires_at.isoformat()})."
            )
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
        parent=acting_token,
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
            "parent_token_id": acting_token.pk if acting_token is not None else None,
        },
    )
    return token, value


def _descendant_ids(token: APIToken) -> list[int]:
    """Ids of every token minted (directly or not) by `token`, breadth first, within its organization."""
    found: list[int] = []
    frontier = [token.pk]
    while frontier:
        frontier = list(
            APIToken.objects.filter(org_id=token.org_id, parent_id__in=frontier).exclude(pk__in=found).values_list(
                "pk", flat=True
            )
        )
        found.extend(frontier)
    return found


@transaction.atomic(durable=True)
def do_revoke_token(token: APIToken, *, actor: Any) -> APIToken:
    """Revoke a token and every token it minted (and they minted), in one transaction with one audit
    event that counts them. Its owner may revoke their own; admins (and operators) anyone's."""
    user, _ = split_actor(actor)
    if user is None or token.user_id != user.pk or isinstance(actor, PlatformOperator):
        check(actor, Action.MANAGE_TOKENS, token)
    else:
        check(actor, Action.CREATE_OWN_TOKEN, token)
    token = APIToken.objects.select_for_update().get(pk=token.pk)
    now = timezone.now()
    descendants = _descendant_ids(token)
    revoked_descendants = (
        APIToken.objects.filter(pk__in=descendants, revoked_at__isnull=True).update(revoked_at=now, updated_at=now)
        if descendants
        else 0
    )
    if token.revoked_at is not None and not revoked_descendants:
        return token
    if token.revoked_at is None:
        token.revoked_at = now
        token.save(update_fields=["revoked_at", "updated_at"])
    record_event(
        org=token.org,
        action=AuditAction.TOKEN_REVOKED,
        actor=actor,
        target=token,
        details={
            "token_name": token.name,
            "token_prefix": token.prefix,
            "descendants_revoked": revoked_descendants,
        },
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
