"""Server-rendered pages of the accounts app: sign-in, organization home, environments, members,
API tokens and the audit trail.

Views are thin (NetBox style): lists start from `.restrict()`, permission checks come from
`OrgPageMixin` and the policy module, and every change goes through a `do_*` service. Destructive
actions are POST-only behind a confirmation page; every page works without JavaScript.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.views import View
from django.views.generic import TemplateView

from core.paging import page_of
from core.urls import RowUrls

from . import services
from .filtersets import AuditPageFilterSet
from .forms import (
    ConfirmForm,
    EnvironmentCreateForm,
    EnvironmentEditForm,
    InvitationAcceptForm,
    MemberAddForm,
    MemberRoleForm,
    TokenCreateForm,
    apply_service_errors,
)
from .mixins import OrgFormView, OrgPageMixin
from .models import APIToken, AuditEvent, Environment, Invitation, Membership, Notification
from .policy import Action

AUDIT_PAGE_SIZE = 50
RECENT_AUDIT_EVENTS = 10
# Lists that grow with the organization show one page at a time (core.paging.page_of).
MEMBERS_PAGE_SIZE = 25
INVITATIONS_PAGE_SIZE = 25
ENVIRONMENTS_PAGE_SIZE = 25
TOKENS_PAGE_SIZE = 50
ORGS_PAGE_SIZE = 50
# The organization home lists a few environments and links to the full (paginated) list.
HOME_ENVIRONMENTS = 12


# --- Authentication (sign-in, passwords and two-factor: accounts/authn/views.py) -----------------


class LogoutView(auth_views.LogoutView):
    """Django's POST-only logout, telling the user on the login page that it worked."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You have been signed out.")
        return response


# --- Home -----------------------------------------------------------------------------------------


class HomeView(LoginRequiredMixin, TemplateView):
    """The organizations a user belongs to; with exactly one there is nothing to choose."""

    template_name = "accounts/home.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        mine = Membership.objects.filter(user=request.user).select_related("org").order_by("org__slug")
        page = page_of(request, mine, ORGS_PAGE_SIZE)
        memberships = list(page.object_list)
        if page.paginator.count == 1:
            return redirect("org_home", org_slug=memberships[0].org.slug)
        # Member counts for this page's organizations only, in one grouped query.
        counts = dict(
            Membership.objects.filter(org__in=[m.org_id for m in memberships])
            .values_list("org")
            .annotate(n=Count("id"))
            .order_by()
        )
        for membership in memberships:
            membership.member_count = counts.get(membership.org_id, 0)
        return self.render_to_response(self.get_context_data(memberships=memberships, page_obj=page))


class OrgHomeView(OrgPageMixin, TemplateView):
    """Overview of one organization; admins also see what changed last."""

    template_name = "accounts/org_home.html"
    nav_section = "home"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        environments = Environment.objects.restrict(self.actor, Action.VIEW).filter(org=self.org).order_by("slug")
        shown = list(environments[: HOME_ENVIRONMENTS + 1])  # one more than shown: whether to say "see all"
        context.update(environments=shown[:HOME_ENVIRONMENTS], environments_more=len(shown) > HOME_ENVIRONMENTS)
        context["member_count"] = Membership.objects.restrict(self.actor, Action.VIEW).filter(org=self.org).count()
        context["alerts"] = Notification.objects.restrict(self.actor, Action.VIEW).filter(
            org=self.org, dismissed_at__isnull=True
        )[:20]
        if self.can(Action.READ_AUDIT):
            events = AuditEvent.objects.restrict(self.actor, Action.READ_AUDIT).filter(org=self.org)
            context["recent_events"] = events.order_by("-seq")[:RECENT_AUDIT_EVENTS]
        return context


# --- Environments ---------------------------------------------------------------------------------


class EnvironmentListView(OrgPageMixin, TemplateView):
    template_name = "accounts/environment_list.html"
    nav_section = "environments"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        environments = Environment.objects.restrict(self.actor, Action.VIEW).filter(org=self.org).order_by("slug")
        page = page_of(self.request, environments, ENVIRONMENTS_PAGE_SIZE)
        context.update(page_obj=page, environments=list(page.object_list))
        if self.can(Action.MANAGE_ENVIRONMENTS):
            context["create_form"] = EnvironmentCreateForm()
            edit = RowUrls("environment_edit", "env_slug", org_slug=self.org.slug)
            delete = RowUrls("environment_delete", "env_slug", org_slug=self.org.slug)
            for env in context["environments"]:
                env.edit_url, env.delete_url = edit(env.slug), delete(env.slug)
        return context


class EnvironmentCreateView(OrgFormView):
    template_name = "accounts/environment_form.html"
    form_class = EnvironmentCreateForm
    required_action = Action.MANAGE_ENVIRONMENTS
    nav_section = "environments"
    success_url_name = "environment_list"
    service = staticmethod(services.do_create_environment)
    success_message = "Environment “{result.name}” created."


class EnvironmentObjectMixin:
    """Resolves `self.environment` from the `env_slug` URL argument (404 outside this organization)."""

    environment: Environment

    def resolve_objects(self) -> None:
        self.environment = self.get_org_object(Environment, slug=self.kwargs["env_slug"])  # type: ignore[attr-defined]

    def service_target(self) -> Environment:
        return self.environment

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(environment=self.environment, **kwargs)  # type: ignore[misc]


class EnvironmentEditView(EnvironmentObjectMixin, OrgFormView):
    template_name = "accounts/environment_form.html"
    form_class = EnvironmentEditForm
    required_action = Action.MANAGE_ENVIRONMENTS
    nav_section = "environments"
    success_url_name = "environment_list"
    service = staticmethod(services.do_update_environment)
    success_message = "Environment “{result.name}” saved."

    def get_initial(self) -> dict[str, Any]:
        return {"name": self.environment.name, "description": self.environment.description}


class EnvironmentDeleteView(EnvironmentObjectMixin, OrgFormView):
    """Confirmation page (GET) and the deletion itself (POST only)."""

    template_name = "accounts/environment_confirm_delete.html"
    form_class = ConfirmForm
    required_action = Action.MANAGE_ENVIRONMENTS
    nav_section = "environments"
    success_url_name = "environment_list"
    service = staticmethod(services.do_delete_environment)
    success_message = "Environment “{view.environment.name}” deleted."


# --- Members --------------------------------------------------------------------------------------


def org_memberships(view: OrgPageMixin) -> QuerySet:
    return Membership.objects.restrict(view.actor, Action.VIEW).filter(org=view.org).select_related("user")


def open_invitations(view: OrgPageMixin) -> QuerySet:
    return Invitation.objects.filter(org=view.org, accepted_at__isnull=True, revoked_at__isnull=True).select_related(
        "invited_by"
    )


def role_options(choices: list[tuple[str, str]]) -> dict[str, str]:
    """role -> the `<option>`s of a member row's role select with that role selected ("" for none).

    Every row of a role has the same options: rendered once per page and role rather than once per row."""
    return {
        current: format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((value, mark_safe(" selected") if value == current else "", label) for value, label in choices),
        )
        for current in ["", *(value for value, _ in choices)]
    }


class MemberListView(OrgPageMixin, TemplateView):
    """Members, and for admins the open invitations (pending or expired) with resend and revoke."""

    template_name = "accounts/member_list.html"
    nav_section = "members"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # Members and invitations page separately (`page`, `inv_page`), so paging one keeps the other's place.
        page = page_of(self.request, org_memberships(self).order_by("user__email", "pk"), MEMBERS_PAGE_SIZE)
        context.update(page_obj=page, memberships=list(page.object_list))
        for membership in context["memberships"]:
            membership.is_you = membership.user_id == self.request.user.pk  # no lazy-user comparison per row
        if self.can(Action.MANAGE_MEMBERS):
            context["add_form"] = MemberAddForm()
            options = role_options(MemberRoleForm.base_fields["role"].choices)
            change = RowUrls("member_role", "pk", org_slug=self.org.slug)
            remove = RowUrls("member_remove", "pk", org_slug=self.org.slug)
            for membership in context["memberships"]:
                membership.role_options = options.get(membership.role, options[""])
                membership.role_url, membership.remove_url = change(membership.pk), remove(membership.pk)
            invitations = page_of(
                self.request, open_invitations(self).order_by("email", "pk"), INVITATIONS_PAGE_SIZE, "inv_page"
            )
            context.update(invitations_page=invitations, invitations=list(invitations.object_list))
        return context


def invitation_sent_message(email: str) -> str:
    """The one answer to an invitation, whoever the address belongs to (or nobody)."""
    return f"Invitation sent to {email}. They join when they accept it."


class MemberAddView(OrgFormView):
    """Invite someone. The answer is the same page and message whether the address has an account."""

    template_name = "accounts/member_add.html"
    form_class = MemberAddForm
    required_action = Action.MANAGE_MEMBERS
    nav_section = "members"
    success_url_name = "member_list"
    service = staticmethod(services.do_invite_member)

    def service_arguments(self, form: MemberAddForm) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.org,), {
            **form.cleaned_data,
            "domain": self.request.get_host(),
            "use_https": self.request.is_secure(),
        }

    def get_success_message(self, form: MemberAddForm, result: Invitation) -> str:
        return invitation_sent_message(result.email)


class InvitationObjectMixin:
    """Resolves `self.invitation` (an open one of this organization) from the `pk` URL argument."""

    invitation: Invitation

    def resolve_objects(self) -> None:
        view: Any = self
        self.invitation = view.get_org_object(open_invitations(view), pk=view.kwargs["pk"])

    def service_target(self) -> Invitation:
        return self.invitation

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(invitation=self.invitation, **kwargs)  # type: ignore[misc]


class InvitationResendView(InvitationObjectMixin, OrgFormView):
    template_name = "accounts/invitation_confirm.html"
    form_class = ConfirmForm
    required_action = Action.MANAGE_MEMBERS
    nav_section = "members"
    success_url_name = "member_list"
    service = staticmethod(services.do_resend_invitation)
    extra_context = {"verb": "resend"}

    def service_arguments(self, form: ConfirmForm) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.invitation,), {"domain": self.request.get_host(), "use_https": self.request.is_secure()}

    def get_success_message(self, form: ConfirmForm, result: Invitation) -> str:
        return invitation_sent_message(result.email)


class InvitationRevokeView(InvitationObjectMixin, OrgFormView):
    template_name = "accounts/invitation_confirm.html"
    form_class = ConfirmForm
    required_action = Action.MANAGE_MEMBERS
    nav_section = "members"
    success_url_name = "member_list"
    service = staticmethod(services.do_revoke_invitation)
    success_message = "Invitation to {result.email} revoked."
    extra_context = {"verb": "revoke"}


class InvitationAcceptView(TemplateView):
    """The link of an invitation e-mail. Signed in with the invited address: one button. Signed out:
    sign in to accept, or create the account here (password) and join at once."""

    template_name = "accounts/invitation_accept.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.invitation = services.find_invitation(kwargs["token"])
        response = super().dispatch(request, *args, **kwargs)
        # The URL holds the invitation's secret: never sent to another site ("no-referrer" would make the
        # browser send `Origin: null` with the form, which the CSRF check rightly refuses).
        response["Referrer-Policy"] = "same-origin"
        add_never_cache_headers(response)
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.update(
            invitation=self.invitation,
            matches=bool(self.invitation and user.is_authenticated and user.email == self.invitation.email),
            form=kwargs.get("form") or InvitationAcceptForm(),
            login_url=f"{reverse('login')}?{urlencode({'next': self.request.path})}",
        )
        return context

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        if self.invitation is None:
            return self.get(request, token=token)
        user = request.user if request.user.is_authenticated else None
        form: Any = ConfirmForm(request.POST) if user is not None else InvitationAcceptForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        try:
            invitation, member = services.do_accept_invitation(
                token,
                user=user,
                password=form.cleaned_data.get("password", "") if user is None else "",
                full_name=form.cleaned_data.get("full_name", "") if user is None else "",
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.render_to_response(self.get_context_data(form=form))
        if user is None:
            login(request, member, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to {invitation.org.name}.")
        return redirect("org_home", org_slug=invitation.org.slug)


class MembershipObjectMixin:
    """Resolves `self.membership` from the `pk` URL argument (404 outside this organization)."""

    membership: Membership

    def resolve_objects(self) -> None:
        view: Any = self
        self.membership = view.get_org_object(org_memberships(view), pk=view.kwargs["pk"])

    def service_target(self) -> Membership:
        return self.membership

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(membership=self.membership, **kwargs)  # type: ignore[misc]


class MemberRoleView(MembershipObjectMixin, OrgFormView):
    """Change a member's role. The list posts here; errors (the last admin) show on this page."""

    template_name = "accounts/member_role.html"
    form_class = MemberRoleForm
    required_action = Action.MANAGE_MEMBERS
    nav_section = "members"
    success_url_name = "member_list"
    service = staticmethod(services.do_change_member_role)

    def get_initial(self) -> dict[str, Any]:
        return {"role": self.membership.role}

    def get_success_message(self, form: MemberRoleForm, result: Membership) -> str:
        return f"{result.user.email} is now {result.get_role_display()}."


class MemberRemoveView(MembershipObjectMixin, OrgFormView):
    template_name = "accounts/member_confirm_remove.html"
    form_class = ConfirmForm
    required_action = Action.MANAGE_MEMBERS
    nav_section = "members"
    success_url_name = "member_list"
    service = staticmethod(services.do_remove_member)
    success_message = "{view.membership.user.email} removed from {view.org.name}."


# --- API tokens -----------------------------------------------------------------------------------


class TokenQuerysetMixin:
    """Members see their own tokens; those who may manage tokens see everyone's."""

    def get_token_queryset(self) -> QuerySet:
        view: Any = self
        tokens = APIToken.objects.restrict(view.actor, Action.VIEW).filter(org=view.org).select_related("user")
        if view.can(Action.MANAGE_TOKENS):
            return tokens
        return tokens.filter(user=view.actor)


class TokenListView(TokenQuerysetMixin, OrgPageMixin, TemplateView):
    template_name = "accounts/token_list.html"
    required_action = Action.CREATE_OWN_TOKEN
    nav_section = "tokens"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        page = page_of(self.request, self.get_token_queryset().order_by("-created_at", "-pk"), TOKENS_PAGE_SIZE)
        context.update(page_obj=page, tokens=list(page.object_list))
        context["show_owner"] = self.can(Action.MANAGE_TOKENS)
        context["create_form"] = TokenCreateForm(max_role=self.role)
        context["now"] = timezone.now()
        return context


class TokenCreateView(OrgFormView):
    """Creates a token and shows its value in the response to the POST, once.

    The value is neither stored nor put in the session or a redirect: it exists only in this
    response, which is marked no-store so the browser does not keep it either.
    """

    template_name = "accounts/token_form.html"
    form_class = TokenCreateForm
    required_action = Action.CREATE_OWN_TOKEN
    nav_section = "tokens"
    service = staticmethod(services.do_create_token)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "max_role": self.role}

    def service_arguments(self, form: TokenCreateForm) -> tuple[tuple[Any, ...], dict[str, Any]]:
        data = form.cleaned_data
        return (self.org,), {"name": data["name"], "role_cap": data["role_cap"], "expires_at": form.expiry_datetime()}

    def service_succeeded(self, form: TokenCreateForm, result: tuple[APIToken, str]) -> HttpResponse:
        token, value = result
        context = self.get_context_data(form=form, token=token, token_value=value)
        response = self.response_class(request=self.request, template="accounts/token_created.html", context=context)
        add_never_cache_headers(response)
        return response


class TokenRevokeView(TokenQuerysetMixin, OrgFormView):
    template_name = "accounts/token_confirm_revoke.html"
    form_class = ConfirmForm
    required_action = Action.CREATE_OWN_TOKEN
    nav_section = "tokens"
    success_url_name = "token_list"
    service = staticmethod(services.do_revoke_token)
    success_message = "Token “{result.name}” revoked."

    def resolve_objects(self) -> None:
        self.token = self.get_org_object(self.get_token_queryset(), pk=self.kwargs["pk"])

    def service_target(self) -> APIToken:
        return self.token

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(token=self.token, **kwargs)


# --- Alerts ---------------------------------------------------------------------------------------


class NotificationDismissView(OrgPageMixin, View):
    """POST-only: dismiss an alert shown on the organization home (users and up)."""

    required_action = Action.TEST_CONNECTION
    http_method_names = ["post"]

    def post(self, request: HttpRequest, org_slug: str, pk: int) -> HttpResponse:
        note = self.get_org_object(Notification, pk=pk)
        services.do_dismiss_notification(note, actor=self.actor)
        messages.success(request, f"Alert “{note.title}” dismissed.")
        return redirect("org_home", org_slug=self.org.slug)


# --- Audit trail ----------------------------------------------------------------------------------


# Filters the page shows as inputs, in order; the others (target_type, target_id) still apply from the URL.
AUDIT_FORM_FIELDS = ("actor", "action", "target", "environment", "request_id", "since", "until")
AUDIT_HIDDEN_FILTERS = ("target_type", "target_id")


class AuditListView(OrgPageMixin, TemplateView):
    """The organization's audit trail, filtered by GET parameters so a view can be bookmarked or shared."""

    template_name = "accounts/audit_list.html"
    required_action = Action.READ_AUDIT
    nav_section = "audit"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        events = AuditEvent.objects.restrict(self.actor, Action.READ_AUDIT).filter(org=self.org).order_by("-seq")
        filterset = AuditPageFilterSet(self.request.GET or None, queryset=events)
        form = filterset.form
        form.fields["environment"].widget.attrs["list"] = "audit-environment-options"
        # An invalid filter shows its error and no rows, rather than silently widening the result.
        rows = events.none() if filterset.is_bound and not filterset.is_valid() else filterset.qs
        page = Paginator(rows, AUDIT_PAGE_SIZE).get_page(self.request.GET.get("page"))
        query = self.request.GET
        context.update(
            filter_form=form,
            visible_fields=[form[name] for name in AUDIT_FORM_FIELDS],
            hidden_filters={name: query[name] for name in AUDIT_HIDDEN_FILTERS if query.get(name)},
            page_obj=page,
            events=page.object_list,
            is_filtered=any(query.get(name) for name in form.fields),
            environment_options=Environment.objects.filter(org=self.org).values_list("slug", flat=True),
        )
        return context
