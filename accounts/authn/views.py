"""Pages of authentication: sign-in (password, then the second factor), password reset and change,
two-factor enrolment and removal, and an organization's security settings.

The sign-in page and the token endpoint share `accounts.authn.login` (same limits, same audit events);
these views only add the page around it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import FormView, TemplateView
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.choices import RoleChoices
from accounts.forms import InvitePasswordResetForm, apply_service_errors
from accounts.lockout import refusal_response
from accounts.mixins import OrgFormView
from accounts.models import Membership
from accounts.policy import Action

from . import limits, login, services, twofactor
from .forms import LoginForm, OneTimeCodeForm, OrgSecurityForm, PasswordConfirmForm, TwoFactorSetupForm

ENROL_SESSION_KEY = "authn_enrol_key"


def _safe_next(request: HttpRequest, url: str) -> str:
    hosts = {request.get_host()}
    allowed = url_has_allowed_host_and_scheme(url, allowed_hosts=hosts, require_https=request.is_secure())
    return url if url and allowed else ""


# --- Sign-in --------------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    """Step 1: e-mail and password. Users with two-factor continue on /login/verify/."""

    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.email = limits.normalize_email(request.POST.get("username"))
        if refusal := limits.login_refusal(request, self.email):
            return refusal_response(request, refusal)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: LoginForm) -> HttpResponse:
        if form.credentials_rejected:
            refusal = login.failed(self.request, self.email, reason=login.PASSWORD, channel=login.PAGE)
            if refusal is not None:
                return refusal_response(self.request, refusal)
        return super().form_invalid(form)

    def form_valid(self, form: LoginForm) -> HttpResponse:
        user = form.get_user()
        if twofactor.has_two_factor(user):
            login.start_pending(self.request, user, self.get_redirect_url())
            return redirect("login_verify")
        login.succeeded(self.request, self.email)
        return super().form_valid(form)


@method_decorator([sensitive_post_parameters(), never_cache], name="dispatch")
class LoginVerifyView(FormView):
    """Step 2: the one-time code, for a pending login; or, for a signed-in user whose session has not
    used their second factor yet (an organization requires it), to verify this session."""

    template_name = "registration/login_verify.html"
    form_class = OneTimeCodeForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.pending = login.pending(request)
        if self.pending is not None:
            self.user = self.pending.user
        elif request.user.is_authenticated:
            self.user = request.user
            if not twofactor.has_two_factor(self.user):
                return redirect("two_factor_setup")
            if twofactor.session_verified(self.user):
                return HttpResponseRedirect(self.get_success_url())
        else:
            messages.info(request, "Your sign-in took too long; please sign in again.")
            return redirect("login")
        return super().dispatch(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if refusal := limits.login_refusal(request, self.user.email):
            return refusal_response(request, refusal)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: OneTimeCodeForm) -> HttpResponse:
        device = twofactor.verify_code(self.user, form.cleaned_data["code"])
        if device is None:
            refusal = login.failed(self.request, self.user.email, reason=login.ONE_TIME_CODE, channel=login.PAGE)
            if refusal is not None:
                return refusal_response(self.request, refusal)
            form.add_error("code", "That code is not valid. Codes change every 30 seconds; try the current one.")
            return self.form_invalid(form)
        next_url = self.get_success_url()
        login.complete(self.request, device, self.pending)
        if twofactor.is_recovery_device(device):
            left = twofactor.recovery_codes_left(self.request.user)
            messages.warning(self.request, f"You signed in with a recovery code; {left} left.")
        return HttpResponseRedirect(next_url)

    def get_success_url(self) -> str:
        wanted = self.pending.next_url if self.pending else self.request.GET.get("next", "")
        return _safe_next(self.request, wanted) or resolve_url("home")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(step_up=self.pending is None, **kwargs)


def admin_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """The admin site's login: the platform's own sign-in page (its limits and two-factor), never the
    admin's form, which would sign a user in with a password alone. Signed in but not allowed: 403."""
    if request.user.is_authenticated:
        raise PermissionDenied("Your account may not use the admin site.")
    return redirect_to_login(request.GET.get("next") or reverse("admin:index"), login_url=reverse("login"))


# --- Passwords ------------------------------------------------------------------------------------


class PasswordResetView(auth_views.PasswordResetView):
    """Always the same answer (the "check your e-mail" page) whether the account exists or not; the
    link is mailed by a task. Limited per client address (429) and per target e-mail (no mail)."""

    form_class = InvitePasswordResetForm

    def form_valid(self, form: InvitePasswordResetForm) -> HttpResponse:
        if refusal := limits.password_reset_refusal(self.request):
            return refusal_response(self.request, refusal)
        email = limits.normalize_email(form.cleaned_data["email"])
        services.do_request_password_reset(
            email,
            actor=self.request.user,
            domain=self.request.get_host(),
            use_https=self.request.is_secure(),
            send=limits.password_reset_mail_allowed(email),
        )
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's reset link page; the new password is set by a service that records it. Signing in
    still needs the second factor: a reset never bypasses it."""

    def form_valid(self, form: Any) -> HttpResponse:
        user = services.do_reset_password(form.user, password=form.cleaned_data["new_password1"])
        self.request.session.pop(auth_views.INTERNAL_RESET_SESSION_TOKEN, None)
        login.succeeded(self.request, user.email)
        return HttpResponseRedirect(self.get_success_url())


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form: Any) -> HttpResponse:
        user = services.do_change_password(
            form.user, actor=self.request.user, password=form.cleaned_data["new_password1"]
        )
        update_session_auth_hash(self.request, user)  # this session stays signed in; others end
        return HttpResponseRedirect(self.get_success_url())


# --- Two-factor -----------------------------------------------------------------------------------


class TwoFactorView(LoginRequiredMixin, TemplateView):
    """Whether two-factor is on, how many recovery codes are left, and which organizations require it."""

    template_name = "accounts/two_factor.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        return super().get_context_data(
            enabled=twofactor.has_two_factor(user),
            recovery_codes_left=twofactor.recovery_codes_left(user),
            required_by=Membership.objects.filter(user=user, role=RoleChoices.ADMIN, org__require_admin_2fa=True)
            .select_related("org")
            .order_by("org__slug"),
            **kwargs,
        )


@method_decorator([sensitive_post_parameters(), never_cache], name="dispatch")
class TwoFactorSetupView(LoginRequiredMixin, FormView):
    """Enrolment: a QR code (and the key, to type in) for a new key kept in the session, confirmed by a
    code from the app. The answer to the confirmation shows the recovery codes, once."""

    template_name = "accounts/two_factor_setup.html"
    form_class = TwoFactorSetupForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and twofactor.has_two_factor(request.user):
            return redirect("two_factor")
        return super().dispatch(request, *args, **kwargs)

    def enrolment_key(self) -> str:
        key = self.request.session.get(ENROL_SESSION_KEY)
        if not key:
            key = self.request.session[ENROL_SESSION_KEY] = twofactor.new_key()
        return key

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user, key = self.request.user, self.enrolment_key()
        return super().get_context_data(
            qr_svg=twofactor.qr_svg(twofactor.provisioning_uri(user, key)),
            manual_key=twofactor.manual_key(user, key),
            next=_safe_next(self.request, self.request.GET.get("next", "")),
            **kwargs,
        )

    def form_valid(self, form: TwoFactorSetupForm) -> HttpResponse:
        user = self.request.user
        try:
            codes = services.do_enable_two_factor(
                user, actor=user, key=self.enrolment_key(), code=form.cleaned_data["code"]
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.form_invalid(form)
        self.request.session.pop(ENROL_SESSION_KEY, None)
        otp_login(self.request, TOTPDevice.objects.get(user=user, confirmed=True))
        context = {
            "recovery_codes": [twofactor.format_recovery_code(c) for c in codes],
            "next": _safe_next(self.request, self.request.GET.get("next", "")) or resolve_url("two_factor"),
        }
        response = self.response_class(
            request=self.request, template="accounts/two_factor_recovery_codes.html", context=context
        )
        add_never_cache_headers(response)
        return response


@method_decorator(sensitive_post_parameters(), name="dispatch")
class TwoFactorDisableView(LoginRequiredMixin, FormView):
    template_name = "accounts/two_factor_disable.html"
    form_class = PasswordConfirmForm

    def form_valid(self, form: PasswordConfirmForm) -> HttpResponse:
        try:
            services.do_disable_two_factor(
                self.request.user, actor=self.request.user, password=form.cleaned_data["password"]
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, "Two-factor authentication is off.")
        return redirect("two_factor")


# --- Organization security ------------------------------------------------------------------------


class OrgSecurityView(OrgFormView):
    """An organization's security settings (admins): whether its admins must use two-factor."""

    template_name = "accounts/org_security.html"
    form_class = OrgSecurityForm
    required_action = Action.MANAGE_SECURITY
    nav_section = "security"
    success_url_name = "org_security"
    service = staticmethod(services.do_set_admin_two_factor)
    success_message = "Security settings saved."

    def get_initial(self) -> dict[str, Any]:
        return {"require_admin_2fa": self.org.require_admin_2fa}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        admins = (
            Membership.objects.restrict(self.actor, Action.VIEW)
            .filter(org=self.org, role=RoleChoices.ADMIN)
            .select_related("user")
            .order_by("user__email")
        )
        devices = TOTPDevice.objects.filter(user__in=admins.values("user_id"), confirmed=True)
        with_device = set(devices.values_list("user_id", flat=True))
        rows = [{"email": m.user.email, "two_factor": m.user_id in with_device} for m in admins]
        return super().get_context_data(admins=rows, **kwargs)
