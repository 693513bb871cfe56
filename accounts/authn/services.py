"""State changes and audit events of authentication: one `do_*` per change (see accounts/services.py).

Where these events go: the audit trail's **org-less (platform) chain**, `org=None`. Authentication
belongs to a person, not to an organization: a person may belong to several organizations or none, a
failed login may name an account that does not exist, and an anonymous request must not be able to
append to (and so lock) an organization's chain. Platform operators read these events; `verify_audit`
checks that chain like every other. The one organization-level change here, an organization requiring
two-factor of its admins, goes to that organization's chain.

Every failed login records the attempted e-mail normalized (trimmed, lowercased), never the password;
a value that is not an e-mail address at all (a password typed into the e-mail field) is not recorded.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.actors import split_actor
from accounts.audit import record_event
from accounts.choices import AuditAction, RoleChoices
from accounts.models import Membership, Organization, User
from accounts.policy import Action, check
from accounts.tasks import send_password_reset_email
from core.queue import send_on_commit

from . import twofactor
from .limits import Refusal

NOT_AN_EMAIL = "(not an e-mail address)"
ANONYMOUS = AnonymousUser()


def email_for_audit(email: str) -> str:
    """The attempted login as the audit trail keeps it: the normalized address, or a placeholder."""
    try:
        validate_email(email)
    except ValidationError:
        return NOT_AN_EMAIL
    return email


def _user_for(email: str) -> User | None:
    return User.objects.filter(email__iexact=email).first() if email else None


# --- Failed logins and lockouts -------------------------------------------------------------------


@transaction.atomic(durable=True)
def do_record_failed_login(*, email: str, reason: str, channel: str) -> None:
    """A login attempt whose password (reason "password") or one-time code ("otp") was wrong."""
    shown = email_for_audit(email)
    record_event(
        org=None,
        action=AuditAction.AUTH_LOGIN_FAILED,
        actor=ANONYMOUS,
        target=_user_for(email) if shown != NOT_AN_EMAIL else None,
        target_repr=shown,
        details={"email": shown, "reason": reason, "channel": channel},
    )


@transaction.atomic(durable=True)
def do_record_lockout(*, email: str, refusal: Refusal, channel: str) -> None:
    """A limit that started holding: an address (spraying), an account (a delay) or the pair (axes)."""
    shown = email_for_audit(email)
    record_event(
        org=None,
        action=AuditAction.AUTH_LOCKED_OUT,
        actor=ANONYMOUS,
        target=_user_for(email) if shown != NOT_AN_EMAIL else None,
        target_repr=shown,
        details={"email": shown, "scope": refusal.scope, "retry_after": refusal.retry_after, "channel": channel},
    )


# --- Passwords ------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def do_change_password(user: User, *, actor: Any, password: str) -> User:
    """A signed-in user changed their password (the form has checked the old one and the validators)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    user.set_password(password)
    user.save(update_fields=["password"])
    record_event(org=None, action=AuditAction.AUTH_PASSWORD_CHANGED, actor=actor, target=user)
    return user


@transaction.atomic(durable=True)
def do_request_password_reset(email: str, *, actor: Any, domain: str, use_https: bool, send: bool) -> None:
    """Someone asked for a reset link for `email`. The link goes by a Celery task (ids only), after the
    commit, and only to an active account; the caller answers the same whatever happens here."""
    user = User.objects.filter(email__iexact=email, is_active=True).first()
    mailed = send and user is not None
    record_event(
        org=None,
        action=AuditAction.AUTH_PASSWORD_RESET_REQUESTED,
        actor=actor if getattr(actor, "is_authenticated", False) else ANONYMOUS,
        target=user,
        target_repr=email_for_audit(email),
        details={"email": email_for_audit(email), "account_exists": user is not None, "mail_sent": mailed,
                 "rate_limited": not send},
    )
    if mailed:
        send_on_commit(send_password_reset_email, user.pk, domain=domain, use_https=use_https)


@transaction.atomic(durable=True)
def do_reset_password(user: User, *, password: str) -> User:
    """The owner of a valid reset link set a new password (they act as the account's owner)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    user.set_password(password)
    user.save(update_fields=["password"])
    record_event(org=None, action=AuditAction.AUTH_PASSWORD_RESET_COMPLETED, actor=user, target=user)
    return user


# --- Two-factor -----------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def do_enable_two_factor(user: User, *, actor: Any, key: str, code: str) -> list[str]:
    """Confirm enrolment: `code` must be valid for `key`; creates the authenticator device and a fresh set
    of recovery codes, and returns those codes (the only time they are readable)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if twofactor.has_two_factor(user):
        raise ValidationError({"code": "Two-factor authentication is already on for this account."})
    device = twofactor.unsaved_device(user, key)
    try:
        device.full_clean(exclude=["user"])
    except ValidationError as exc:
        raise ValidationError({"code": "This enrolment has expired; start again."}) from exc
    device.save()
    if not device.verify_token(twofactor._clean(code)):
        raise ValidationError({"code": "That code is not valid: check the time on your device and try again."})
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=user).delete()
    recovery = StaticDevice.objects.create(user=user, name=twofactor.RECOVERY_DEVICE_NAME, confirmed=True)
    codes = twofactor.new_recovery_codes()
    StaticToken.objects.bulk_create(StaticToken(device=recovery, token=c) for c in codes)
    record_event(
        org=None, action=AuditAction.AUTH_TWO_FACTOR_ENABLED, actor=actor, target=user,
        details={"recovery_codes": len(codes)},
    )
    return codes


@transaction.atomic(durable=True)
def do_disable_two_factor(user: User, *, actor: Any, password: str) -> None:
    """Turn two-factor off (the password is asked again: a borrowed session is not enough)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.check_password(password):
        raise ValidationError({"password": "Incorrect password."})
    if not twofactor.has_two_factor(user):
        return
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    required_by = sorted(
        Membership.objects.filter(user=user, role=RoleChoices.ADMIN, org__require_admin_2fa=True).values_list(
            "org__slug", flat=True
        )
    )
    record_event(
        org=None, action=AuditAction.AUTH_TWO_FACTOR_DISABLED, actor=actor, target=user,
        details={"required_by": required_by},
    )


@transaction.atomic(durable=True)
def do_record_recovery_code_used(user: User, *, channel: str) -> None:
    """A recovery code stood in for the authenticator at login (it is used up)."""
    record_event(
        org=None, action=AuditAction.AUTH_RECOVERY_CODE_USED, actor=user, target=user,
        details={"channel": channel, "recovery_codes_left": twofactor.recovery_codes_left(user)},
    )


@transaction.atomic(durable=True)
def do_set_admin_two_factor(org: Organization, *, actor: Any, require_admin_2fa: bool) -> Organization:
    """Require (or stop requiring) two-factor of the organization's admins. Turning it on needs the
    acting admin to have it already, so nobody switches it on from an account it would then stop."""
    check(actor, Action.MANAGE_SECURITY, org)
    org = Organization.objects.select_for_update().get(pk=org.pk)
    old = org.require_admin_2fa
    if old == require_admin_2fa:
        return org
    if require_admin_2fa and not twofactor.has_two_factor(split_actor(actor)[0]):
        raise ValidationError(
            {"require_admin_2fa": "Turn on two-factor authentication for your own account first."}
        )
    org.require_admin_2fa = require_admin_2fa
    org.save(update_fields=["require_admin_2fa"])
    record_event(
        org=org, action=AuditAction.ORG_SECURITY_UPDATED, actor=actor, target=org,
        details={"changes": {"require_admin_2fa": {"old": old, "new": require_admin_2fa}}},
    )
    return org
