"""Celery tasks of the accounts app (ids only in messages).

A password-reset link is mailed here, off the request: the page answers in the same time whether the
account exists or not (with a broker; eager mode, the development default, sends in-process).
"""

from __future__ import annotations

from celery import shared_task

from .forms import InvitePasswordResetForm
from .models import User


@shared_task(ignore_result=True)
def send_password_reset_email(user_id: int, *, domain: str, use_https: bool) -> None:
    """Mail a reset link to an active account (Django's form builds the link and the message)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    form = InvitePasswordResetForm({"email": user.email})
    if form.is_valid():
        form.save(domain_override=domain, use_https=use_https)
