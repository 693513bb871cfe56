"""Page forms. They only shape input for the `do_*` services, which own the rules.

Validation that needs the database (unique slugs, the last admin, a role a token may have) lives in
the services; `apply_service_errors` puts what they raise onto these forms, next to the field it is
about, so pages and API report the same words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from .choices import RoleChoices, role_rank

__all__ = [
    "ConfirmForm",
    "EmailAuthenticationForm",
    "EnvironmentCreateForm",
    "EnvironmentEditForm",
    "InvitationAcceptForm",
    "InvitePasswordResetForm",
    "MemberAddForm",
    "MemberRoleForm",
    "TokenCreateForm",
    "apply_service_errors",
]


def apply_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Map a service's ValidationError onto `form`: known field keys to that field, the rest on top.

    Services key their errors by model field (`slug`, `role`, `email`, ...) or `non_field_errors`;
    a key the form has no field for (e.g. `slug` on an edit form) still reaches the user.
    """
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, errors in exc.message_dict.items():
        if key in form.fields:
            form.add_error(key, errors)
        elif key in (NON_FIELD_ERRORS, "non_field_errors"):
            form.add_error(None, errors)
        else:
            form.add_error(None, [f"{key.replace('_', ' ').capitalize()}: {message}" for message in errors])


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form, labelled for what users type: their email address."""

    def __init__(self, request: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        username = self.fields["username"]
        username.label = "Email"
        username.widget = forms.EmailInput(attrs={"autofocus": True, "autocomplete": "username", "maxlength": 254})
        self.fields["password"].widget.attrs["autocomplete"] = "current-password"


class InvitePasswordResetForm(PasswordResetForm):
    """Password reset that also reaches invited members.

    `do_add_member` creates accounts without a usable password and tells them to set one through
    this page; Django's form skips such accounts (it assumes they log in some other way), which
    would leave invited people unable to ever sign in.
    """

    def get_users(self, email: str) -> Iterable[Any]:
        user_model = get_user_model()
        email_field = user_model.get_email_field_name()
        return user_model._default_manager.filter(**{f"{email_field}__iexact": email, "is_active": True})


class ConfirmForm(forms.Form):
    """No fields: confirmation pages still get CSRF protection and a place for non-field errors."""


class EnvironmentCreateForm(forms.Form):
    slug = forms.CharField(
        label="Slug",
        max_length=63,
        help_text="Lowercase letters, digits and dashes, e.g. staging. It cannot be changed later.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    name = forms.CharField(label="Name", max_length=100, required=False, help_text="Defaults to the slug.")
    description = forms.CharField(label="Description", max_length=500, required=False)


class EnvironmentEditForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    description = forms.CharField(label="Description", max_length=500, required=False)


class MemberAddForm(forms.Form):
    """Invite someone: they get an e-mail with a link and join when they accept it."""

    email = forms.EmailField(
        label="Email",
        help_text="They get an e-mail with a link to accept (and to create an account if they need one).",
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(label="Role", choices=RoleChoices.choices, initial=RoleChoices.VIEWER)


class InvitationAcceptForm(forms.Form):
    """Accepting an invitation without an account: the account is created with these."""

    full_name = forms.CharField(label="Your name", max_length=150, required=False)
    password = forms.CharField(
        label="Choose a password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=RoleChoices.choices)


class TokenCreateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="What uses it, e.g. “CI deploys”.")
    role_cap = forms.ChoiceField(
        label="Role cap",
        required=False,
        help_text="The token acts with at most this role. Empty: your role.",
    )
    expires_at = forms.DateField(
        label="Expires on",
        required=False,
        help_text="Optional. The token stops working at the end of this day (UTC).",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args: Any, max_role: str | None = None, **kwargs: Any) -> None:
        """Offer only caps up to the creator's role: a token never exceeds whoever creates it."""
        super().__init__(*args, **kwargs)
        allowed = [(value, label) for value, label in RoleChoices.choices if role_rank(value) <= role_rank(max_role)]
        self.fields["role_cap"].choices = [("", "Same as my role"), *allowed]

    def expiry_datetime(self) -> dt.datetime | None:
        """The chosen day as the aware instant the token stops working (midnight UTC after it)."""
        day = self.cleaned_data.get("expires_at")
        if day is None:
            return None
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
