"""Forms of the sign-in, two-factor and organization security pages (shape only; services own the rules)."""

from __future__ import annotations

from django import forms

from accounts.forms import EmailAuthenticationForm


class LoginForm(EmailAuthenticationForm):
    """The sign-in form, remembering whether the credentials were checked and refused (a failed login),
    as opposed to a field left empty (nothing was tried)."""

    credentials_rejected = False

    def get_invalid_login_error(self) -> forms.ValidationError:
        self.credentials_rejected = True
        return super().get_invalid_login_error()


class OneTimeCodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false", "autocapitalize": "off"}
        ),
    )


class TwoFactorSetupForm(forms.Form):
    code = forms.CharField(
        label="Code from the app",
        max_length=16,
        help_text="Enter the 6-digit code the app shows, to confirm it is set up.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}),
    )


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class OrgSecurityForm(forms.Form):
    require_admin_2fa = forms.BooleanField(
        label="Require two-factor authentication for admins",
        required=False,
        help_text="Admins without it are sent to set it up before they can do anything else in this organization.",
    )
