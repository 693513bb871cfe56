"""Server-rendered pages of the connections app: the connections page (provider cards to add one, the
organization's connections as cards), the generated create/edit/rotate forms, details with the Test
button, environment authorizations, usage history, the deletion preview, and the selection explainer.

Views are thin (see `accounts/views.py`): lists start from `.restrict()`, the organization-level check
comes from `OrgPageMixin`, and the check on a connection is made on the object itself (so per-object
grants count) by `get_org_object`. Every change goes through a `do_*` service; pages never call the API
and never read a secret: they show which secrets are set by fingerprint only.
"""

from __future__ import annotations

import functools
import json
from types import SimpleNamespace
from typing import Any

from celery.result import AsyncResult, EagerResult
from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import OuterRef, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.safestring import SafeString
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView, View

from accounts.authn import twofactor
from accounts.choices import PLAN_ORDER
from accounts.forms import ConfirmForm
from accounts.mixins import OrgFormView, OrgPageMixin
from accounts.models import Environment, Organization
from accounts.policy import Action, check, restrict_to_org
from connections.secrets import is_placeholder
from core import masking
from core.expressions import JsonRows, SubqueryCount, json_rows_of
from core.fragments import render_fragment, render_fragments
from core.paging import page_of
from core.urls import RowUrls

from . import oauth_flow, services
from .advice import separation_warning
from .choices import HealthStatusChoices
from .display import DISPLAY, auth_method_label, display_for, provider_stylesheet
from .extensions import badges_for, detail_panels
from .filtersets import ConnectionPageFilterSet
from .forms import (
    MODE_CREATE,
    MODE_EDIT,
    MODE_ROTATE,
    AuthorizationsForm,
    ConnectionForm,
    RoleForm,
    SelectionForm,
    SetActiveForm,
    SetDefaultForm,
    connection_form_class,
    initial_from_connection,
)
from .models import Connection, ConnectionAuthorization, ConnectionRole
from .providers import CATEGORY_LABELS, REGISTRY, Provider
from .providers.oauth import OAuthError, OAuthUnavailable
from .queries import GRANTED_COLUMN, EnvironmentRef, granted, granted_column
from .role_validation import do_add_role, do_delete_role, role_support_for, roles_unsupported_message
from .runtime import SelectionError, select_connection
from .services import PLAN_LABELS, PlanLimitError
from .trust import federation_setup_for, trust_policy_for

PAGE_SIZE = 24
USAGE_PAGE_SIZE = 50
RECENT_USAGE = 5
# The detail page's sub-lists (authorizations, roles, dependents) page separately, each with its own parameter.
# Environments and dependents are one-line chips and links; a role row is a table row with two forms and its
# permissions, so a page holds fewer of them.
DETAIL_LIST_SIZE = 20
ROLES_PAGE_SIZE = 10
SELECTION_PAGE_SIZE = 50
# Environment shortcuts (links to each environment's selection) shown on a page before "all environments".
ENVIRONMENT_LINKS = 24
ENVIRONMENT_LINKS_COLUMN = "environment_links"
NAV_SECTION = "connections"


# --- Plan limits on the provider cards ------------------------------------------------------------


@require_safe
def provider_styles(request: Any) -> HttpResponse:
    """The providers' brand colours as a stylesheet (the CSP allows no inline style): public, cacheable."""
    response = HttpResponse(provider_stylesheet(), content_type="text/css; charset=utf-8")
    patch_cache_control(response, public=True, max_age=3600)
    return response


def plan_needed(org: Any, spec: Provider) -> tuple[str, str] | None:
    """(label of the plan needed, the service's full explanation), or None if the plan allows it.

    The rule itself is the service's (`check_plan_allows`); the plan named on the card is the one it
    requires, or the next plan up when the limit is about how many provider types are in use.
    """
    try:
        services.check_plan_allows(org, spec.code)
    except PlanLimitError as exc:
        needed = spec.requires_plan
        if PLAN_ORDER[needed] <= PLAN_ORDER[org.plan]:
            higher = [plan for plan, rank in PLAN_ORDER.items() if rank > PLAN_ORDER[org.plan]]
            needed = higher[0] if higher else needed
        return PLAN_LABELS[needed], str(exc)
    return None


# --- Shared view plumbing -------------------------------------------------------------------------


def connection_queryset(view: OrgPageMixin, *, detail: bool = True) -> QuerySet:
    """The organization's connections this actor may see; for one connection's pages, with the rows
    they show (the connection it borrows from, who created and changed it).

    The ciphertext is never displayed, so it is not even read.
    """
    connections = restrict_to_org(Connection.objects.all(), view.actor, Action.VIEW, view.org)
    if not detail:
        return connections.defer("secrets_envelope")
    return connections.select_related("cloud_connection", "created_by", "updated_by").defer(
        "secrets_envelope", "cloud_connection__secrets_envelope"
    )


def org_environments(view: OrgPageMixin) -> QuerySet:
    return restrict_to_org(Environment.objects.all(), view.actor, Action.VIEW, view.org).order_by("slug")


class EnvironmentLinksMixin:
    """Pages with a row of environment shortcuts read them with the organization (`org_annotations`)."""

    def org_annotations(self) -> dict[str, Any]:
        first = Environment.objects.filter(org=OuterRef("pk")).order_by("slug")[: ENVIRONMENT_LINKS + 1]
        return {
            **super().org_annotations(),  # type: ignore[misc]
            ENVIRONMENT_LINKS_COLUMN: JsonRows(first, {"slug": "slug", "name": "name"}, order="slug"),
        }


def environment_links(view: OrgPageMixin) -> tuple[list[Any], bool]:
    """The first ENVIRONMENT_LINKS environments for a row of shortcuts, and whether there are more (then
    the page links to the environments page instead of listing hundreds of chips). A page member sees every
    environment of its organization, so these are the organization's first environments by slug."""
    listed = json_rows_of(view.org, ENVIRONMENT_LINKS_COLUMN)  # EnvironmentLinksMixin
    if listed is not None:
        shown: list[Any] = [EnvironmentRef(slug, name) for slug, name in listed]
    else:
        shown = list(org_environments(view).only("slug", "name")[: ENVIRONMENT_LINKS + 1])
    selection = RowUrls("environment_selection", "env_slug", org_slug=view.org.slug)
    for env in shown:
        env.url = selection(env.slug)
    return shown[:ENVIRONMENT_LINKS], len(shown) > ENVIRONMENT_LINKS


def taken_environments(org: Any, provider: str, exclude: Connection | None = None) -> dict[str, str]:
    """environment slug -> name of the `provider` connection that is the default there (one per provider)."""
    rows = ConnectionAuthorization.objects.filter(org=org, provider=provider, is_default=True)
    if exclude is not None:
        rows = rows.exclude(connection=exclude)
    return dict(rows.values_list("environment__slug", "connection__name"))



def leave_for_authorization(request: HttpRequest, url: str, provider_label: str) -> HttpResponse:
    """Send the browser to the provider's authorize URL after a form POST.

    Not a 302: the page's Content-Security-Policy (`form-action 'self'`) also covers where a form's
    redirect goes, and a self-managed GitLab's address is only known once the form is posted. A page that
    navigates on its own (meta refresh, with a link for the rare browser that ignores it) is not a form
    submission, so the policy stays strict.
    """
    response = render(request, "connections/oauth_leave.html", {"authorize_url": url, "provider_label": provider_label})
    response["Cache-Control"] = "no-store"
    return response

class ConnectionServiceMixin:
    """`run_service` for connection forms: service errors keyed `config.x`/`secrets.x` land on field
    `x`, and a plan limit (a PermissionDenied, a 403 elsewhere) is shown on the form, because the
    user can fix it by choosing another provider or asking for a plan change."""

    def run_service(self, form: forms.Form, service: Any, /, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        def call(*call_args: Any, **call_kwargs: Any) -> Any:
            try:
                return service(*call_args, **call_kwargs)
            except PlanLimitError as exc:
                raise ValidationError({NON_FIELD_ERRORS: [str(exc)]}) from None
            except ValidationError as exc:
                if isinstance(form, ConnectionForm):
                    raise form.service_error(exc) from None
                raise

        return super().run_service(form, call, *args, **kwargs)  # type: ignore[misc]


class ConnectionObjectMixin(ConnectionServiceMixin):
    """Resolves `self.connection` from the `connection_name` URL argument: 404 outside this organization,
    then `connection_action` is checked on the connection itself, so per-object grants count."""

    connection_action: Action = Action.VIEW
    connection: Connection

    def resolve_objects(self) -> None:
        view: Any = self
        self.connection = view.get_org_object(
            connection_queryset(view), action=self.connection_action, name=view.kwargs["connection_name"]
        )

    def service_target(self) -> Any:
        return self.connection

    def get_success_url(self, result: Any = None) -> str:
        """After a change, back to the connection's page."""
        return self.detail_url()

    def connection_perms(self) -> dict[str, bool]:
        view: Any = self
        return {
            "test": view.can(Action.TEST_CONNECTION, self.connection),
            "manage": view.can(Action.MANAGE_CONNECTIONS, self.connection),
            "roles": role_support_for(self.connection) is not None and view.can(Action.MANAGE_ROLES, self.connection),
        }

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        spec = self.connection.provider_spec
        context.update(
            connection=self.connection,
            spec=spec,
            display=display_for(self.connection.provider),
            auth_label=auth_method_label(spec, self.connection.auth_method),
            category_label=CATEGORY_LABELS.get(self.connection.category, self.connection.category),
            has_secrets=bool(spec.secret_fields(self.connection.auth_method)),
            oauth=spec.oauth_for(self.connection.auth_method),
            may=self.connection_perms(),
        )
        return context

    def detail_url(self, connection: Connection | None = None) -> str:
        view: Any = self
        return view.org_url("connection_detail", connection_name=(connection or self.connection).name)


# --- The connections page -------------------------------------------------------------------------


CardKind = tuple[Any, str, str, tuple[tuple[str, str], ...]]


@functools.lru_cache(maxsize=256)
def provider_icon(code: str) -> str:
    """A provider's icon (`connections/_provider_icon.html`), rendered once per process: it depends only on
    the provider's display, which is fixed at import, and a page shows it on every card."""
    return render_to_string("connections/_provider_icon.html", {"display": display_for(code)})


def card_presentation(provider: str, auth_method: str) -> CardKind:
    """(display, its icon's HTML, auth method label, summary fields as (name, label)) of a provider and auth
    method: what every card of that kind shares, so a page builds it once per kind rather than per card."""
    display, icon = display_for(provider), provider_icon(provider)
    spec = REGISTRY.get(provider)
    if spec is None:
        return display, icon, auth_method_label(None, auth_method), ()
    labels = {f.name: f.label for f in spec.fields}
    summary = tuple((name, labels.get(name, name)) for name in spec.summary_fields)
    return display, icon, auth_method_label(spec, auth_method), summary


def decorate_cards(cards: list[Connection]) -> None:
    """What a card shows besides the row itself, for one page: the provider's look and labels, key facts
    (the same as `Connection.summary()`), role and linked-object counts, and badges from other apps; a
    constant number of queries whatever the page holds. `cards` come from `card_rows` (their counts and
    authorized environments are columns of the page's query)."""
    services.card_counts(cards)
    kinds: dict[tuple[str, str], CardKind] = {}
    for card in cards:
        kind = (card.provider, card.auth_method)
        if kind not in kinds:
            kinds[kind] = card_presentation(*kind)
        card.display, card.icon, card.auth_label, summary = kinds[kind]
        config = card.config or {}
        card.facts = [(label, config[name]) for name, label in summary if config.get(name)]
    badges_for(cards)  # e.g. the VPN status of on-prem connections (registered by the vpn app)


CARD_TEMPLATE = "connections/_connection_card.html"
# The columns a card reads (`card_context`, the badge sources: on-prem networks read category and config):
# not the other timestamps, OAuth details or who changed it, which every row would otherwise parse.
CARD_FIELDS = (
    "id", "org_id", "name", "provider", "category", "auth_method", "config", "status", "health_status",
    "last_checked_at", "last_check_error", "last_used_at", "secret_fingerprints", "credentials_rotated_at",
)  # fmt: skip
ADD_SECTION_TEMPLATE = "connections/_add_connection.html"


def card_rows(connections: QuerySet) -> QuerySet:
    """The connections page's query with what its cards show besides the row as columns: authorized
    environments (JSON), role count and the other apps' counts. Scalar subqueries, evaluated for the page's
    rows only; the paginator's COUNT leaves them out (Django drops unused annotations from it)."""
    roles = ConnectionRole.objects.filter(connection=OuterRef("pk"))
    return services.with_card_counts(
        connections.only(*CARD_FIELDS).annotate(
            **{GRANTED_COLUMN: granted_column()}, role_count=SubqueryCount(roles)
        )
    )


def card_context(card: Connection, url: str) -> dict[str, Any]:
    """Everything one card shows, as plain values: the card partial reads only these, so their hash is its
    cache key (`core.fragments`) and a card is rendered again only when something it shows has changed.
    `card` comes from the page query (authorized environments as its JSON column) and `decorate_cards`."""
    environments = granted(card)
    if environments is None:
        raise RuntimeError("card_context needs rows read through card_rows (authorized environments column)")
    unhealthy = card.health_status == HealthStatusChoices.UNHEALTHY
    return {
        "pk": str(card.pk),
        "name": card.name,
        "url": url,
        "icon": str(card.icon),
        "provider_label": str(card.display.label),
        "auth_label": str(card.auth_label),
        "status": card.status,
        "status_label": str(card.get_status_display()),
        "badges": [
            {"label": str(b.label), "css": b.css, "title": str(b.title), "url": b.url} for b in card.extra_badges
        ],
        "facts": [(str(label), str(value)) for label, value in card.facts],
        "environments": [slug for slug, _ in environments],
        "check_error": card.last_check_error if unhealthy else "",
        "separation_warning": separation_warning(EnvironmentRef(slug, name) for slug, name in environments),
        "health": card.health_status,
        "health_label": str(card.get_health_status_display()),
        "last_checked_at": card.last_checked_at,
        "last_used_at": card.last_used_at,
        "linked_counts": [(str(label), count) for label, count in card.linked_counts],
        "role_count": card.role_count,
        "rotation_overdue": card.rotation_overdue,
    }


def render_cards(view: OrgPageMixin, cards: list[Connection]) -> list[SafeString]:
    """The page's cards as HTML, cached per card by what it shows (one cache round trip for the page).
    The detail URL is reversed once: names are slugs, so filling in a placeholder is the same URL."""
    detail = view.org_url("connection_detail", connection_name="__name__")
    return render_fragments(
        CARD_TEMPLATE, [card_context(card, detail.replace("__name__", card.name)) for card in cards]
    )


FILTER_FORM_FIELDS = ("q", "provider", "status", "rotation_overdue")
HIDDEN_FILTERS = ("category", "health_status", "environment")
FILTER_FIELDS_TEMPLATE = "connections/_filter_fields.html"


def filter_fields(form: forms.Form) -> SafeString:
    """The filter form's visible fields as HTML, cached by what decides it: each field's value, errors and
    choices (labels, widgets and ids are code, which the per-process fragment cache never outlives)."""
    bound = [form[name] for name in FILTER_FORM_FIELDS]
    shown = {
        field.name: {
            "value": field.value(),
            "errors": [str(error) for error in field.errors],
            "choices": [(str(v), str(label)) for v, label in getattr(field.field, "choices", ())],
        }
        for field in bound
    }
    return render_fragment(FILTER_FIELDS_TEMPLATE, shown, {"visible_fields": bound})


class ConnectionListView(EnvironmentLinksMixin, OrgPageMixin, TemplateView):
    """Provider cards to add a connection (admins), then the organization's connections as cards."""

    template_name = "connections/connection_list.html"
    nav_section = NAV_SECTION

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # No aggregate here: annotating over every connection of the organization made PostgreSQL group and
        # sort all of them before taking one page, and the paginator counted that grouped query too. The
        # page's own aggregates (roles, linked objects, authorized environments: `card_rows`; badges) are
        # computed for its 24 rows only.
        connections = connection_queryset(self, detail=False).order_by("name")
        filterset = ConnectionPageFilterSet(self.request.GET or None, queryset=connections)
        form = filterset.form
        # An invalid filter shows its error and no cards, rather than silently widening the result.
        rows = connections.none() if filterset.is_bound and not filterset.is_valid() else filterset.qs
        page = page_of(self.request, card_rows(rows), PAGE_SIZE)
        cards = list(page.object_list)
        decorate_cards(cards)
        environments, more_environments = environment_links(self)
        query = self.request.GET
        context.update(
            filter_form=form,
            filter_fields=filter_fields(form),
            hidden_filters=[(name, value) for name in HIDDEN_FILTERS for value in query.getlist(name) if value],
            is_filtered=any(query.get(name) for name in form.fields),
            page_obj=page,
            connections=render_cards(self, cards),
            environments=environments,
            more_environments=more_environments,
            may_add=self.can(Action.MANAGE_CONNECTIONS),
        )
        if context["may_add"]:
            context["add_section"] = self.add_section()
        return context

    def add_section(self) -> SafeString:
        """"Add a connection": connection types grouped by category, each with its auth methods and whether
        the plan allows it, as plain values, so the rendered section is cached per (organization, plan)."""
        sections: dict[str, list[dict[str, Any]]] = {}
        create = self.org_url("connection_create", provider="__provider__")  # codes are slugs: same URL
        for spec in REGISTRY.values():
            needed = plan_needed(self.org, spec)
            sections.setdefault(spec.category, []).append(
                {
                    "label": str(spec.label),
                    "description": str(spec.description),
                    "icon": str(provider_icon(spec.code)),
                    "auth_methods": [str(method.label) for method in spec.auth_methods],
                    "plan_label": str(needed[0]) if needed else "",
                    "plan_message": needed[1] if needed else "",
                    "url": create.replace("__provider__", spec.code),
                }
            )
        context = {
            "plan": str(self.org.get_plan_display()),
            "provider_sections": [
                {"category": category, "label": str(label), "providers": sections[category]}
                for category, label in CATEGORY_LABELS.items()
                if category in sections
            ],
        }
        return render_fragments(ADD_SECTION_TEMPLATE, [context])[0]


# --- Create ---------------------------------------------------------------------------------------


class ConnectionCreateView(ConnectionServiceMixin, OrgFormView):
    """The form generated for one provider and auth method; the auth method is chosen by GET links."""

    template_name = "connections/connection_form.html"
    required_action = Action.MANAGE_CONNECTIONS
    nav_section = NAV_SECTION
    service = staticmethod(services.do_create_connection)

    def resolve_objects(self) -> None:
        try:
            self.spec = REGISTRY[self.kwargs["provider"]]
        except KeyError:
            raise Http404("No such connection type.") from None
        self.auth_method = self.request.GET.get("auth_method") or self.spec.auth_method_codes[0]
        if self.auth_method not in self.spec.auth_method_codes:
            raise Http404("No such auth method for this connection type.")
        self.oauth = self.spec.oauth_for(self.auth_method)

    def get_form_class(self) -> type[ConnectionForm]:
        return connection_form_class(self.spec.code, self.auth_method, MODE_CREATE)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {
            **super().get_form_kwargs(),
            "org": self.org,
            "environments": org_environments(self),
            "taken": taken_environments(self.org, self.spec.code),
        }

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        needed = plan_needed(self.org, self.spec)
        method = self.spec.get_auth_method(self.auth_method)
        context.update(
            spec=self.spec,
            display=DISPLAY[self.spec.code],
            method=method,
            external_id_required=self.spec.external_id_required(self.auth_method),
            auth_methods=[
                {
                    "method": m,
                    "url": f"{self.org_url('connection_create', provider=self.spec.code)}?auth_method={m.code}",
                    "current": m.code == self.auth_method,
                }
                for m in self.spec.auth_methods
            ],
            plan_message=needed[1] if needed else "",
            oauth=self.oauth,
            oauth_unavailable=self.oauth_unavailable(),
        )
        return context

    def oauth_unavailable(self) -> str:
        """Why the platform cannot run this OAuth flow for the provider's default instance ("" when it can)."""
        if self.oauth is None:
            return ""
        try:
            defaults = {f.name: f.default for f in self.spec.public_fields(self.auth_method) if f.default is not None}
            self.oauth.app(defaults)
        except OAuthUnavailable as exc:
            return str(exc)
        return ""

    def form_valid(self, form: ConnectionForm) -> HttpResponse:
        """An OAuth method checks the draft, then sends the browser to the provider instead of creating:
        the connection is created on the callback, with the tokens the provider granted."""
        if self.oauth is None:
            return super().form_valid(form)
        args, kwargs = self.service_arguments(form)
        ok, draft = self.run_service(form, services.check_oauth_draft, *args, **kwargs)
        if not ok:
            return self.service_failed(form)
        try:
            url = oauth_flow.begin(
                self.request,
                org_id=self.org.pk,
                provider=self.spec.code,
                auth_method=self.auth_method,
                config=draft.pop("clean_config"),
                draft=draft,
            )
        except OAuthUnavailable as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        return leave_for_authorization(self.request, url, self.spec.label)

    def service_arguments(self, form: ConnectionForm) -> tuple[tuple[Any, ...], dict[str, Any]]:
        data = form.cleaned_data
        return (self.org,), {
            "name": data["name"],
            "provider": self.spec.code,
            "auth_method": self.auth_method,
            "config": form.config_data(),
            "secrets": form.secret_data(),
            "environments": data["environments"],
            "description": data["description"],
        }

    def get_success_message(self, form: ConnectionForm, result: Connection) -> str:
        message = f"Connection “{result.name}” created."
        if result.external_id:
            message += " Put its External ID in your role's trust policy (below), then add the role."
        return message

    def get_success_url(self, result: Any = None) -> str:
        return self.org_url("connection_detail", connection_name=result.name)


# --- Detail and its actions -----------------------------------------------------------------------


def _display_value(value: Any) -> tuple[str, bool]:
    """(text, multi-line?) for a public config value on the detail page."""
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, sort_keys=True), True
    text = "" if value is None else str(value)
    return text, "\n" in text


def trust_policy_panel(connection: Connection) -> dict[str, Any] | None:
    """The External ID panel: the policy pretty-printed for copying."""
    trust = trust_policy_for(connection)
    if trust is None:
        return None
    policy = json.dumps(trust["policy"], indent=2) if trust["policy"] else ""
    return {
        "external_id": trust["external_id"],
        "policy": policy,
        "error": trust["error"],
        "account": trust["platform_account_id"],
    }


def federation_panel(connection: Connection) -> dict[str, Any] | None:
    """The federated setup panel: documents pretty-printed for copying."""
    setup = federation_setup_for(connection)
    if setup is None:
        return None
    documents = [{**doc, "text": json.dumps(doc["content"], indent=2)} for doc in setup["documents"]]
    return {**setup, "documents": documents}


def authorized_separation_warning(connection: Connection) -> str:
    """The development/production warning over every environment the connection is authorized for (not
    only the page of them shown): two short columns per authorization, classified in Python."""
    rows = connection.authorizations.values_list("environment__slug", "environment__name").order_by()
    return separation_warning(SimpleNamespace(slug=slug, name=name) for slug, name in rows)


class ConnectionDetailView(ConnectionObjectMixin, OrgPageMixin, TemplateView):
    """Everything public about a connection, its health and test, authorizations, roles and actions."""

    template_name = "connections/connection_detail.html"
    nav_section = NAV_SECTION

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        connection, spec = self.connection, context["spec"]
        facts = []
        for field in spec.public_fields(connection.auth_method):
            text, multiline = _display_value(connection.config.get(field.name))
            facts.append({"field": field, "value": text, "multiline": multiline})
        secrets = [
            {"field": field, "fingerprint": connection.secret_fingerprints.get(field.name, "")}
            for field in spec.secret_fields(connection.auth_method)
        ]
        request = self.request
        # Each sub-list shows one page and reads its own parameter, so paging the roles keeps the
        # authorizations' page (and the reverse); the counts are of the plain rows.
        authorizations = connection.authorizations.select_related("environment").order_by("environment__slug", "pk")
        auth_page = page_of(request, authorizations, DETAIL_LIST_SIZE, "auth_page")
        roles_page = page_of(request, connection.roles.order_by("created_at", "pk"), ROLES_PAGE_SIZE, "roles_page")
        dependents = connection.dependents.order_by("name").values_list("name", flat=True)
        dependents_page = page_of(request, dependents, DETAIL_LIST_SIZE, "dependents_page")
        context.update(
            facts=facts,
            secrets=secrets,
            auth_page=auth_page,
            authorizations=list(auth_page.object_list),
            separation_warning=authorized_separation_warning(connection),
            roles_page=roles_page,
            roles=list(roles_page.object_list),
            dependents_page=dependents_page,
            dependents=list(dependents_page.object_list),
            recent_usage=list(connection.usages.all()[:RECENT_USAGE]),
            trust=trust_policy_panel(connection),
            federation=federation_panel(connection),
            extra_panels=detail_panels(connection, self.actor),
        )
        return context


class ConnectionActionMixin(ConnectionObjectMixin):
    """A POST-only button on the connection's page (test, activate, a role's validate and delete). It
    has no page of its own: a refusal becomes messages, and every outcome returns to the connection."""

    form_class: Any = ConfirmForm
    http_method_names = ["post"]
    nav_section = NAV_SECTION

    def service_failed(self, form: forms.Form) -> HttpResponse:
        for error in form.non_field_errors():
            messages.error(self.request, error)  # type: ignore[attr-defined]
        return HttpResponseRedirect(self.detail_url())


class ConnectionTestView(ConnectionActionMixin, OrgFormView):
    """POST only: run the connection's check (a task, eager by default) and show its saved result."""

    connection_action = Action.TEST_CONNECTION
    service = staticmethod(services.do_request_connection_test)

    def service_succeeded(self, form: ConfirmForm, result: AsyncResult) -> HttpResponse:
        # Only an eagerly run task has finished here; a queued one may have no result backend to ask.
        if not isinstance(result, EagerResult):
            messages.info(self.request, "The test has started; reload this page in a moment for its result.")
        else:
            fresh = Connection.objects.only("health_status", "last_check_error", "last_check_duration_ms").get(
                pk=self.connection.pk
            )
            if fresh.health_status == HealthStatusChoices.HEALTHY:
                messages.success(self.request, f"Test passed in {fresh.last_check_duration_ms} ms.")
            else:
                messages.error(self.request, f"Test failed. {fresh.last_check_error}")
        return HttpResponseRedirect(self.detail_url())


class ConnectionSetActiveView(ConnectionActionMixin, OrgFormView):
    """POST only: activate or deactivate (a deactivated connection is never selected nor used)."""

    form_class = SetActiveForm
    connection_action = Action.MANAGE_CONNECTIONS
    service = staticmethod(services.do_set_active)

    def get_success_message(self, form: SetActiveForm, result: Connection) -> str:
        word = "activated" if form.cleaned_data["active"] else "deactivated"
        return f"Connection “{result.name}” {word}."

    def form_invalid(self, form: SetActiveForm) -> HttpResponse:
        messages.error(self.request, "Choose to activate or deactivate the connection.")
        return HttpResponseRedirect(self.detail_url())


class ConnectionSetDefaultView(ConnectionActionMixin, OrgFormView):
    """POST only: make the connection its provider's default in one environment where it is authorized."""

    form_class = SetDefaultForm
    connection_action = Action.MANAGE_CONNECTIONS
    service = staticmethod(services.do_set_default_connection)

    def service_arguments(self, form: SetDefaultForm) -> tuple[tuple[Any, ...], dict[str, Any]]:
        self.environment = self.get_org_object(Environment, Action.VIEW, slug=form.cleaned_data["environment"])
        return (self.connection, self.environment), {}

    def service_succeeded(self, form: SetDefaultForm, result: bool) -> HttpResponse:
        messages.success(
            self.request,
            f"“{self.connection.name}” is the default {self.connection.provider} connection of "
            f"{self.environment.slug}.",
        )
        return HttpResponseRedirect(self.org_url("connection_authorizations", connection_name=self.connection.name))

    def service_failed(self, form: forms.Form) -> HttpResponse:
        for errors in form.errors.values():  # the service keys its refusal on `environment`
            for error in errors:
                messages.error(self.request, error)
        return HttpResponseRedirect(self.detail_url())

    def form_invalid(self, form: SetDefaultForm) -> HttpResponse:
        messages.error(self.request, "Choose an environment.")
        return HttpResponseRedirect(self.detail_url())


class ConnectionEditView(ConnectionObjectMixin, OrgFormView):
    """Name, description and public fields; secrets change only through rotate."""

    template_name = "connections/connection_edit.html"
    nav_section = NAV_SECTION
    connection_action = Action.MANAGE_CONNECTIONS
    service = staticmethod(services.do_update_connection)
    success_message = "Connection “{result.name}” saved."

    def get_form_class(self) -> type[ConnectionForm]:
        return connection_form_class(self.connection.provider, self.connection.auth_method, MODE_EDIT)

    def get_initial(self) -> dict[str, Any]:
        return initial_from_connection(self.get_form_class(), self.connection)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "org": self.org, "exclude": self.connection}

    def service_arguments(self, form: ConnectionForm) -> tuple[tuple[Any, ...], dict[str, Any]]:
        data = form.cleaned_data
        config = form.config_data()
        secrets = form.secret_data()  # only there to re-confirm a moved destination (do_update_connection)
        kwargs = {"name": data["name"], "description": data["description"], "config": config, "secrets": secrets}
        return (self.connection,), kwargs

    def get_success_url(self, result: Any = None) -> str:
        return self.detail_url(result)  # under its new name, if it was renamed


class ConnectionRotateView(ConnectionObjectMixin, OrgFormView):
    """New values for some or all secret fields; a blank field (or ***) keeps what is stored."""

    template_name = "connections/connection_rotate.html"
    nav_section = NAV_SECTION
    connection_action = Action.MANAGE_CONNECTIONS
    service = staticmethod(services.do_rotate_credentials)

    def get_form_class(self) -> type[ConnectionForm]:
        return connection_form_class(self.connection.provider, self.connection.auth_method, MODE_ROTATE)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "org": self.org}

    @staticmethod
    def sent_secrets(form: ConnectionForm) -> dict[str, str]:
        """Every secret field, blank included: the service keeps a blank or placeholder value as stored."""
        return {name: form.cleaned_data.get(name) or "" for name in form.secret_names}

    def service_arguments(self, form: ConnectionForm) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.connection,), {"secrets": self.sent_secrets(form)}

    def get_success_message(self, form: ConnectionForm, result: Connection) -> str:
        rotated = [name for name, value in self.sent_secrets(form).items() if value and not is_placeholder(value)]
        labels = ", ".join(form.spec_field(name).label for name in rotated)
        return f"Credentials of “{result.name}” rotated: {labels}."


class ConnectionOAuthView(ConnectionActionMixin, OrgFormView):
    """"Reconnect": a new OAuth authorization for an existing connection (new scopes, a revoked grant,
    a rotation). The tokens are replaced on the callback (`services.do_connect_oauth`)."""

    connection_action = Action.MANAGE_CONNECTIONS

    def form_valid(self, form: ConfirmForm) -> HttpResponse:
        connection = self.connection
        try:
            url = oauth_flow.begin(
                self.request,
                org_id=self.org.pk,
                provider=connection.provider,
                auth_method=connection.auth_method,
                config=dict(connection.config),
                draft={"connection": str(connection.pk)},
            )
        except OAuthUnavailable as exc:
            messages.error(self.request, str(exc))
            return HttpResponseRedirect(self.detail_url())
        except ValueError:
            messages.error(self.request, f"The {connection.auth_method} method has no OAuth flow.")
            return HttpResponseRedirect(self.detail_url())
        return leave_for_authorization(self.request, url, connection.provider_spec.label)


FLOW_UNKNOWN = (
    "This authorization answer does not belong to a sign-in you started in this session, or it was already "
    "used or has expired: nothing was stored. Start again from the connection page."
)


class OAuthCallbackView(View):
    """Where the provider sends the browser back. Only a flow this session started (`oauth_flow.take`:
    single use, same user) goes on; its organization's rules apply again (two-factor, the policy in the
    services), the code is exchanged with the PKCE verifier, and the tokens are stored like any secret."""

    http_method_names = ["get"]

    def get(self, request: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return render(request, "connections/oauth_error.html", {"message": FLOW_UNKNOWN}, status=400)
        flow = oauth_flow.take(request, request.GET.get("state"))
        org = Organization.objects.filter(pk=flow["org"]).first() if flow else None
        if flow is None or org is None or twofactor.requirement_unmet(request, org):
            return render(request, "connections/oauth_error.html", {"message": FLOW_UNKNOWN}, status=400)
        # Whoever started the flow must still be allowed to change connections there before any code is spent.
        check(request.user, Action.MANAGE_CONNECTIONS, org)
        support = oauth_flow.support_for(flow)
        back = self._back_url(org, flow)
        error = request.GET.get("error")
        if error or not request.GET.get("code"):
            messages.error(request, self._refusal(support.label, error, request.GET.get("error_description")))
            return HttpResponseRedirect(back)
        try:
            grant = support.exchange(
                flow["config"], code=request.GET["code"], verifier=flow["verifier"], redirect_uri=flow["redirect_uri"]
            )
        except (OAuthError, OAuthUnavailable) as exc:
            messages.error(request, f"Could not connect: {getattr(exc, 'reason', str(exc))} Nothing was stored.")
            return HttpResponseRedirect(back)
        try:
            with masking.registered(grant.secrets().values()):
                connection = self._store(request, org, flow, grant)
        except ValidationError as exc:
            messages.error(request, "Could not save the connection: " + " ".join(exc.messages))
            return HttpResponseRedirect(back)
        scopes = ", ".join(connection.oauth_scopes or []) or "not reported"
        messages.success(request, f"Connection “{connection.name}” connected with {support.label} (scopes: {scopes}).")
        return HttpResponseRedirect(reverse("connection_detail", args=[org.slug, connection.name]))

    @staticmethod
    def _store(request: Any, org: Organization, flow: dict[str, Any], grant: Any) -> Connection:
        draft = flow["draft"]
        if "connection" in draft:
            connection = get_object_or_404(Connection.objects.select_related("org"), pk=draft["connection"], org=org)
            return services.do_connect_oauth(connection, actor=request.user, grant=grant)
        return services.do_create_connection(org, actor=request.user, oauth=grant, **draft)

    @staticmethod
    def _back_url(org: Organization, flow: dict[str, Any]) -> str:
        draft = flow["draft"]
        if "connection" in draft:
            name = Connection.objects.filter(pk=draft["connection"], org=org).values_list("name", flat=True).first()
            if name:
                return reverse("connection_detail", args=[org.slug, name])
        create = reverse("connection_create", args=[org.slug, flow["provider"]])
        return f"{create}?auth_method={flow['auth_method']}"

    @staticmethod
    def _refusal(label: str, error: str | None, description: str | None) -> str:
        if error == "access_denied":
            return f"Access was denied on {label}: the platform was not authorized and nothing was stored."
        reason = (description or error or "no authorization code came back")[:200]
        return f"{label} did not authorize the platform ({reason}). Nothing was stored."


class ConnectionAuthorizationsView(ConnectionObjectMixin, OrgFormView):
    """Tick the environments the connection may be used in, and choose where it is the provider's default."""

    template_name = "connections/connection_authorizations.html"
    form_class = AuthorizationsForm
    nav_section = NAV_SECTION
    connection_action = Action.MANAGE_CONNECTIONS
    service = staticmethod(services.do_set_authorizations)

    def get_initial(self) -> dict[str, Any]:
        slugs = self.connection.authorizations.values_list("environment__slug", flat=True)
        return {"environments": list(slugs)}

    def get_form_kwargs(self) -> dict[str, Any]:
        return {
            **super().get_form_kwargs(),
            "environments": org_environments(self),
            "taken": taken_environments(self.org, self.connection.provider, exclude=self.connection),
        }

    def service_arguments(self, form: AuthorizationsForm) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.connection, form.cleaned_data["environments"]), {}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        authorized = list(self.connection.authorizations.select_related("environment").order_by("environment__slug"))
        defaults = taken_environments(self.org, self.connection.provider)
        context["defaults"] = [
            {"auth": auth, "default_name": defaults.get(auth.environment.slug)} for auth in authorized
        ]
        return context

    def get_success_message(self, form: AuthorizationsForm, result: list[str]) -> str:
        where = ", ".join(result) if result else "no environment"
        return f"“{self.connection.name}” is now authorized for {where}."


class ConnectionUsageView(ConnectionObjectMixin, OrgPageMixin, TemplateView):
    """Who or what used the connection's credentials, where, for what, and how it went; newest first."""

    template_name = "connections/connection_usage.html"
    nav_section = NAV_SECTION

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        page = page_of(self.request, self.connection.usages.all(), USAGE_PAGE_SIZE)
        context.update(page_obj=page, usages=page.object_list)
        return context


class ConnectionDeleteView(ConnectionObjectMixin, OrgFormView):
    """GET: the deletion preview (what blocks it, what goes with it). POST: delete, unless blocked."""

    template_name = "connections/connection_delete.html"
    form_class = ConfirmForm
    nav_section = NAV_SECTION
    connection_action = Action.MANAGE_CONNECTIONS
    service = staticmethod(services.do_delete_connection)
    success_message = "Connection “{view.connection.name}” deleted."

    def get_success_url(self, result: Any = None) -> str:
        return self.org_url("connection_list")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["preview"] = services.deletion_preview(self.connection, actor=self.actor)
        return context


# --- Selection explainer --------------------------------------------------------------------------


class EnvironmentSelectionView(EnvironmentLinksMixin, OrgPageMixin, TemplateView):
    """Which connection a run in this environment gets for a provider, and why; or the exact error."""

    template_name = "connections/environment_selection.html"
    nav_section = NAV_SECTION

    def resolve_objects(self) -> None:
        self.environment = self.get_org_object(Environment, slug=self.kwargs["env_slug"])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = SelectionForm(self.request.GET or None)
        selection, error = None, ""
        if form.is_bound and form.is_valid():
            try:
                selection = select_connection(self.org, self.environment, form.cleaned_data["provider"])
            except SelectionError as exc:
                error = str(exc)
        authorized = (
            ConnectionAuthorization.objects.filter(environment=self.environment)
            .select_related("connection")
            .order_by("provider", "connection__name", "pk")
        )
        page = page_of(self.request, authorized, SELECTION_PAGE_SIZE)
        environments, more_environments = environment_links(self)
        context.update(
            environment=self.environment,
            environments=environments,
            more_environments=more_environments,
            form=form,
            selection=selection,
            selection_display=display_for(selection.provider) if selection else None,
            error=error,
            page_obj=page,
            authorized=[{"auth": auth, "display": display_for(auth.provider)} for auth in page.object_list],
        )
        return context


__all__ = [
    "ConnectionAuthorizationsView",
    "ConnectionCreateView",
    "ConnectionDeleteView",
    "ConnectionDetailView",
    "ConnectionEditView",
    "ConnectionListView",
    "ConnectionRotateView",
    "ConnectionSetActiveView",
    "ConnectionSetDefaultView",
    "ConnectionTestView",
    "ConnectionUsageView",
    "EnvironmentSelectionView",
]


# --- Connection roles -----------------------------------------------------------------------------


class ConnectionRoleAddView(ConnectionObjectMixin, OrgFormView):
    """Add an AWS IAM role or an Azure service principal (provisioners and admins)."""

    template_name = "connections/role_form.html"
    nav_section = NAV_SECTION
    connection_action = Action.MANAGE_ROLES
    service = staticmethod(do_add_role)
    success_message = "Role “{result}” added. Validate it to check its trust and permissions."

    def resolve_objects(self) -> None:
        super().resolve_objects()
        if role_support_for(self.connection) is None:
            raise Http404(roles_unsupported_message())

    def get_form(self, form_class: Any = None) -> RoleForm:
        return RoleForm(**self.get_form_kwargs(), support=role_support_for(self.connection))


class ConnectionRoleActionMixin(ConnectionActionMixin):
    connection_action = Action.MANAGE_ROLES
    role: ConnectionRole

    def resolve_objects(self) -> None:
        super().resolve_objects()
        view: Any = self
        self.role = get_object_or_404(ConnectionRole, connection=self.connection, pk=view.kwargs["pk"])

    def service_target(self) -> ConnectionRole:
        return self.role


class ConnectionRoleValidateView(ConnectionRoleActionMixin, OrgFormView):
    """POST only: validate a role (a Celery task, eager by default) and show the outcome."""

    service = staticmethod(services.do_request_role_validation)

    def service_succeeded(self, form: ConfirmForm, result: AsyncResult) -> HttpResponse:
        if not isinstance(result, EagerResult):
            messages.info(self.request, "Validation has started; reload this page in a moment for its result.")
        else:
            self.role.refresh_from_db()
            level = messages.success if self.role.status in ("valid", "drift") else messages.error
            detail = f" {self.role.validation_error}" if self.role.validation_error else ""
            level(self.request, f"Role “{self.role}”: {self.role.get_status_display()}.{detail}")
        return HttpResponseRedirect(self.detail_url())


class ConnectionRoleDeleteView(ConnectionRoleActionMixin, OrgFormView):
    """POST only: remove a role from the connection (the role in the cloud is not touched)."""

    service = staticmethod(do_delete_role)
    success_message = "Role “{view.role}” removed."
