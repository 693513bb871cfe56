"""Celery tasks of the accounts app (ids only in messages).

A password-reset link is mailed here, off the request: the page answers in the same time whether the
account exists or not (with a broker; eager mode, the development default, sends in-process).
"""

from __future__ import annotations

from celery import shared_task
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from .audit import write_checkpoints
from .forms import InvitePasswordResetForm
from .models import Invitation, User


@shared_task(ignore_result=True)
def send_password_reset_email(user_id: int, *, domain: str, use_https: bool) -> None:
    """Mail a reset link to an active account (Django's form builds the link and the message)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    form = InvitePasswordResetForm({"email": user.email})
    if form.is_valid():
        form.save(domain_override=domain, use_https=use_https)


@shared_task(ignore_result=True)
def write_audit_checkpoints() -> int:
    """Celery beat: sign every audit chain's head (idempotent: an already signed head is skipped)."""
    return write_checkpoints()


@shared_task(ignore_result=True)
def send_invitation_email(invitation_id: int, *, domain: str, use_https: bool) -> None:
    """Mail an open invitation's link (rebuilt from the row: the message carries only the id). The same
    words whether or not the address has an account: the page behind the link tells them apart."""
    invitation = (
        Invitation.objects.select_related("org", "invited_by")
        .filter(pk=invitation_id, accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if invitation is None or invitation.is_expired:
        return
    path = reverse("invitation_accept", args=[invitation.link_token()])
    link = f"{'https' if use_https else 'http'}://{domain}{path}"
    context = {"invitation": invitation, "link": link}
    send_mail(
        subject=f"You are invited to {invitation.org.name} on Cloud Connections",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )
