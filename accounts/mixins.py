"""Shared behaviour of the organization-scoped pages under /o/<org_slug>/...

Every app's pages (accounts, connections, vpn, finops) start from `OrgPageMixin`, so the rules of
the role table are applied in one place: an organization the user does not belong to answers 404
(it does not exist for them), a visible page whose action the role does not allow answers 403, and
every template gets `org` and `role`. State changes go through `run_service`, which turns a
service's `ValidationError` into form errors instead of a 500, and an audit failure into a message;
`OrgFormView` makes a form page a declaration of which service it calls and what it says on success.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db.models import Model, OuterRef, QuerySet
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import FormView

from core.expressions import JsonRows, SubqueryCount

from .audit import AuditWriteError
from .authn import twofactor
from .forms import apply_service_errors
from .models import Membership, Notification, Organization
from .policy import Action, can, check, org_with_role, role_in


class OrgPermissions:
    """What the actor may do in one organization, asked of `policy.can` lazily and once per action.

    Templates read it as `{% if org_perms.manage_environments %}` (the context processor provides it
    on every page under /o/<org_slug>/); an unknown action name is False, so a typo hides a control
    rather than showing it. The view and the layout share one instance per request, so a check that
    needs django-guardian's tables is not repeated.
    """

    def __init__(self, actor: Any, org: Organization | None) -> None:
        self.actor = actor
        self.org = org
        self._answers: dict[str, bool] = {}

    def __getitem__(self, action: str) -> bool:
        if action not in self._answers:
            try:
                self._answers[action] = self.org is not None and can(self.actor, Action(action), self.org)
            except ValueError:
                self._answers[action] = False
        return self._answers[action]


MEMBER_ORGS_COLUMN = "member_orgs"


def member_orgs_column(actor: Any) -> JsonRows:
    """The user's organizations for the switcher, `[[id, slug, name, role], ...]` by slug, as a column of the
    page's organization query (`accounts.context_processors` reads it instead of querying memberships)."""
    memberships = Membership.objects.filter(user=actor).order_by()
    return JsonRows(memberships, {"id": "org_id", "slug": "org__slug", "name": "org__name", "role": "role"}, "slug")


class OrgPageMixin(LoginRequiredMixin):
    """Resolve `self.org` from the `org_slug` URL argument and check the policy before any handler runs.

    Class attributes:
      * `required_action`: the policy action every method of the view needs (default `Action.VIEW`).
      * `method_actions`: per HTTP method overrides, e.g. `{"POST": Action.MANAGE_ENVIRONMENTS}`.
      * `nav_section`: which item of the organization navigation is marked current.

    `dispatch` sets `self.org`, `self.role` (the user's role in it) and `self.org_perms` (see
    `OrgPermissions`, shared with the templates), checks the policy, then calls
    `resolve_objects()` (override it to load the page's object with `get_org_object`) before the
    handler; `get_context_data` adds `org`, `role` and `nav_section`.
    """

    required_action: Action = Action.VIEW
    method_actions: dict[str, Action] = {}
    nav_section: str = ""
    org_url_kwarg = "org_slug"

    org: Organization
    role: str | None
    org_perms: OrgPermissions
    request: HttpRequest
    kwargs: dict[str, Any]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.org = self.get_org()
        if unmet := twofactor.requirement_unmet(request, self.org):  # login hardening: the org requires 2FA
            return self.two_factor_redirect(unmet)
        # Shared with the layout (also on the 403 page), so its navigation asks nothing twice.
        self.org_perms = request.org_perms = OrgPermissions(self.actor, self.org)
        check(self.actor, self.get_required_action(), self.org)
        self.role = role_in(self.actor, self.org)
        self.resolve_objects()
        return super().dispatch(request, *args, **kwargs)

    def two_factor_redirect(self, unmet: str) -> HttpResponseRedirect:
        """An admin of an organization requiring two-factor: enrol first, or verify this session."""
        target = "two_factor_setup" if unmet == twofactor.ENROL else "login_verify"
        messages.warning(self.request, f"{self.org.name} requires two-factor authentication for admins.")
        return HttpResponseRedirect(f"{reverse(target)}?{urlencode({'next': self.request.get_full_path()})}")

    def resolve_objects(self) -> None:
        """Hook: load the page's objects (e.g. with `get_org_object`) once the organization is checked."""

    @property
    def actor(self) -> Any:
        """Who acts: the signed-in user (pages never act with an API token)."""
        return self.request.user

    def get_org(self) -> Organization:
        """The organization in the URL, among those the user belongs to; 404 otherwise (never 403).

        The user's membership role comes with it (one query, not two): every check of the page needs it; and so
        do what the layout shows on every page (the open alerts' count, the organization switcher's list) and
        the view's own `org_annotations()`."""
        alerts = Notification.objects.filter(org=OuterRef("pk"), dismissed_at__isnull=True)
        organizations = Organization.objects.restrict(self.actor, Action.VIEW).annotate(
            open_alert_count=SubqueryCount(alerts),
            **{MEMBER_ORGS_COLUMN: member_orgs_column(self.actor)},
            **self.org_annotations(),
        )
        org = org_with_role(organizations, self.actor, self.kwargs[self.org_url_kwarg])
        if org is None:
            raise Http404("Organization not found.")
        return org

    def org_annotations(self) -> dict[str, Any]:
        """Hook: more columns of the organization's query (`get_org`), for what a page shows beside the
        organization (e.g. the connections page's environment shortcuts), read in the same round trip."""
        return {}

    def get_required_action(self) -> Action:
        return self.method_actions.get(self.request.method or "GET", self.required_action)

    def can(self, action: Action | str, obj: Any = None) -> bool:
        """Whether the user may perform `action` on `obj` (default: the organization)."""
        if obj is None:
            return self.org_perms[Action(action)]
        return can(self.actor, action, obj)

    def get_org_object(
        self, model_or_queryset: type[Model] | QuerySet, action: Action | str | None = None, **lookups: Any
    ) -> Any:
        """One object of this organization, or 404; then `policy.check(action)` on it (403 if not allowed).

        The lookup starts from `.restrict(actor, VIEW)` so another organization's object is a 404 even
        if its id is guessed; `action` defaults to the view's required action, and per-object grants
        (django-guardian) are honoured because the check is made on the object itself.
        """
        queryset = model_or_queryset if isinstance(model_or_queryset, QuerySet) else model_or_queryset.objects.all()
        org_field = getattr(queryset.model, "org_field", "org") or "pk"
        in_org = queryset.restrict(self.actor, Action.VIEW).filter(**{org_field: self.org.pk})
        obj = get_object_or_404(in_org, **lookups)
        check(self.actor, action or self.get_required_action(), obj)
        return obj

    def org_url(self, name: str, **kwargs: Any) -> str:
        """`reverse()` for a route under this organization."""
        return reverse(name, kwargs={self.org_url_kwarg: self.org.slug, **kwargs})

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        context.update(org=self.org, role=self.role, nav_section=self.nav_section)
        return context

    def run_service(self, form: Form, service: Any, /, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        """Call a `do_*` service; returns (succeeded, result).

        A `ValidationError` lands on the form (field errors next to their fields, the rest on top);
        an `AuditWriteError` means the change was rolled back, which the user is told in words.
        `PermissionDenied` and `Http404` propagate to the 403 and 404 pages.
        """
        try:
            return True, service(*args, actor=self.actor, **kwargs)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        except AuditWriteError as exc:
            form.add_error(None, str(exc))
            messages.error(self.request, str(exc))
        return False, None


class OrgFormView(OrgPageMixin, FormView):
    """A form page under an organization whose valid submission is one call of a `do_*` service.

    A view declares what to call and what to say; `form_valid` is written once, here:

      * `service = staticmethod(services.do_x)`: the service (it gets `actor=` from the view);
      * `service_arguments(form)`: its positional and keyword arguments, by default
        `(self.service_target(),)` and the form's `cleaned_data`; `service_target()` is the page's
        object (the organization here; the environment, member, connection... in the object mixins);
      * `success_message`: a format string given `result` (what the service returned) and `view`,
        e.g. "Environment “{result.name}” created."; or `get_success_message(form, result)`;
      * `success_url_name` (a route under the organization), or `get_success_url(result)`.

    A service error lands on the form (`run_service`) and the form is shown again
    (`service_failed`); a page whose success is not "message and redirect" overrides `service_succeeded`.
    """

    service: Any = None
    success_message = ""
    success_url_name = ""

    def service_target(self) -> Any:
        """The object the service acts on, its first argument by default."""
        return self.org

    def service_arguments(self, form: Form) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """(positional, keyword) arguments of `service`, besides `actor`."""
        return (self.service_target(),), dict(form.cleaned_data)

    def form_valid(self, form: Form) -> HttpResponseBase:
        # Read from the class: a function stored as a plain class attribute would otherwise bind to the view.
        service = type(self).service
        if service is None:
            raise ImproperlyConfigured(f"{type(self).__name__} sets no `service` and does not override form_valid.")
        args, kwargs = self.service_arguments(form)
        ok, result = self.run_service(form, service, *args, **kwargs)
        if not ok:
            return self.service_failed(form)
        return self.service_succeeded(form, result)

    def service_failed(self, form: Form) -> HttpResponseBase:
        """The service refused (its errors are on the form): show the form again."""
        return self.form_invalid(form)

    def service_succeeded(self, form: Form, result: Any) -> HttpResponseBase:
        """The change is committed: say so, and go to the success URL."""
        message = self.get_success_message(form, result)
        if message:
            messages.success(self.request, message)
        return HttpResponseRedirect(self.get_success_url(result))

    def get_success_message(self, form: Form, result: Any) -> str:
        return self.success_message.format(result=result, view=self)

    def get_success_url(self, result: Any = None) -> str:
        return self.org_url(self.success_url_name)
