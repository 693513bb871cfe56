"""Server-rendered VPN pages: the list, one VPN (status badge, tunnels without keys, cost, health,
router configuration per vendor, provision / destroy with confirmation), and "Provision VPN" for an
on-prem connection. Thin: `OrgPageMixin` checks the organization, `get_org_object` the VPN, and every
change is a `do_*` service; a plan limit is shown as a message in the same words as elsewhere."""

from __future__ import annotations

from typing import Any

from celery.result import EagerResult
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.generic import TemplateView, View

from accounts.forms import ConfirmForm
from accounts.mixins import OrgFormView, OrgPageMixin
from accounts.policy import Action
from connections.models import Connection
from connections.services import PlanLimitError
from core.paging import page_of

from . import services
from .choices import UP_STATUSES, VpnStatusChoices
from .downloads import do_download_router_config, vendor_choices
from .models import VpnConnection, connections_by_network, estimated_monthly_cost

NAV_SECTION = "vpn"
VPN_PAGE_SIZE = 50
USED_BY_PAGE_SIZE = 20
# On-prem connections name the router's maker; the configuration of a Ubiquiti router is EdgeOS syntax.
VENDOR_OF_ROUTER = {"ubiquiti": "edgeos"}


def vpn_queryset(view: OrgPageMixin) -> QuerySet:
    return VpnConnection.objects.restrict(view.actor, Action.VIEW).filter(org=view.org).defer("psk_envelope")


class VpnListView(OrgPageMixin, TemplateView):
    """Every VPN of the organization, with its status, cost and the on-prem connections that use it."""

    template_name = "vpn/vpn_list.html"
    nav_section = NAV_SECTION

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        page = page_of(self.request, vpn_queryset(self).order_by("onprem_subnet", "public_ip", "pk"), VPN_PAGE_SIZE)
        vpns = list(page.object_list)
        by_network = connections_by_network([self.org.pk]) if vpns else {}
        for vpn in vpns:
            vpn.used_by = by_network.get((vpn.onprem_subnet, vpn.public_ip), [])
        context.update(
            page_obj=page, vpns=vpns, monthly_cost=estimated_monthly_cost(), plan_message=_plan_message(self.org)
        )
        return context


def _plan_message(org: Any) -> str:
    try:
        services.check_plan_allows_vpn(org)
    except PlanLimitError as exc:
        return str(exc)
    return ""


class VpnObjectMixin:
    """Resolves `self.vpn` from the `pk` URL argument (404 outside this organization), checks `vpn_action`."""

    vpn_action: Action = Action.VIEW
    vpn: VpnConnection
    nav_section = NAV_SECTION

    def resolve_objects(self) -> None:
        view: Any = self
        self.vpn = view.get_org_object(vpn_queryset(view), action=self.vpn_action, pk=view.kwargs["pk"])

    def service_target(self) -> VpnConnection:
        return self.vpn

    def detail_url(self) -> str:
        view: Any = self
        return view.org_url("vpn_detail", pk=self.vpn.pk)

    def get_success_url(self, result: Any = None) -> str:
        return self.detail_url()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        view: Any = self
        context.update(
            vpn=self.vpn,
            may_manage=view.can(Action.MANAGE_VPN, self.vpn),
            may_download=view.can(Action.DOWNLOAD_ROUTER_CONFIG, self.vpn),
        )
        return context


class VpnDetailView(VpnObjectMixin, OrgPageMixin, TemplateView):
    template_name = "vpn/vpn_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        vpn = self.vpn
        used_by = page_of(self.request, vpn.connections_using().values_list("name", flat=True), USED_BY_PAGE_SIZE)
        context.update(
            used_by_page=used_by,
            used_by=list(used_by.object_list),
            vendors=vendor_choices(),
            preferred_vendor=VENDOR_OF_ROUTER.get(vpn.router_vendor, vpn.router_vendor),
            provisioned=bool(vpn.tunnel1_outside_ip) and vpn.status in UP_STATUSES,
            # A VPN AWS is still creating (pending) can be checked too: that is how it becomes active.
            checkable=bool(vpn.vpn_connection_id)
            and vpn.status in (*UP_STATUSES, VpnStatusChoices.PROVISIONING, VpnStatusChoices.ERROR),
            destroyable=vpn.status not in (VpnStatusChoices.DESTROYED, VpnStatusChoices.DESTROYING),
            plan_message=_plan_message(self.org),
        )
        return context


class VpnConfirmMixin(VpnObjectMixin):
    """GET: a confirmation page (what it does, what it costs); POST: the service, then back to the VPN."""

    template_name = "vpn/vpn_confirm.html"
    form_class = ConfirmForm
    required_action = vpn_action = Action.MANAGE_VPN  # refused before the VPN is looked up, like the API
    verb = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(verb=self.verb, monthly_cost=estimated_monthly_cost(),
                       used_by=list(self.vpn.connections_using().values_list("name", flat=True)))  # fmt: skip
        return context

    def run_service(self, form: Any, service: Any, /, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        def call(*call_args: Any, **call_kwargs: Any) -> Any:
            try:
                return service(*call_args, **call_kwargs)
            except PlanLimitError as exc:
                raise ValidationError(str(exc)) from None

        return super().run_service(form, call, *args, **kwargs)  # type: ignore[misc]

    def service_succeeded(self, form: Any, result: Any) -> HttpResponse:
        if isinstance(result, EagerResult):
            self.vpn.refresh_from_db()
            level = messages.error if self.vpn.status == VpnStatusChoices.ERROR else messages.success
            level(self.request, f"VPN {self.vpn.get_status_display().lower()}. {self.vpn.status_detail}")  # type: ignore[attr-defined]
        else:
            messages.info(self.request, "Started; reload this page in a moment for the result.")  # type: ignore[attr-defined]
        return HttpResponseRedirect(self.detail_url())


class VpnProvisionView(VpnConfirmMixin, OrgFormView):
    service = staticmethod(services.do_request_provision)
    verb = "provision"


class VpnDestroyView(VpnConfirmMixin, OrgFormView):
    service = staticmethod(services.do_request_destroy)
    verb = "destroy"


class VpnHealthCheckView(VpnConfirmMixin, OrgFormView):
    """POST only: the health check (a task, eager by default); the result is on the VPN's page."""

    service = staticmethod(services.do_request_health_check)
    http_method_names = ["post"]

    def service_failed(self, form: Any) -> HttpResponse:
        for error in form.non_field_errors():
            messages.error(self.request, error)  # type: ignore[attr-defined]
        return HttpResponseRedirect(self.detail_url())


class RouterConfigDownloadView(VpnObjectMixin, OrgPageMixin, View):
    """GET: the vendor's configuration as an attachment (provisioners and admins; audited, keys never logged)."""

    required_action = vpn_action = Action.DOWNLOAD_ROUTER_CONFIG

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            config = do_download_router_config(self.vpn, actor=self.actor, vendor=kwargs["vendor"])
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            return HttpResponseRedirect(self.detail_url())
        response = HttpResponse(config.content, content_type=config.content_type)
        response["Content-Disposition"] = f'attachment; filename="{config.filename}"'
        response["Cache-Control"] = "no-store"
        return response


class ConnectionVpnProvisionView(OrgFormView):
    """ "Provision VPN" on an on-prem connection's page: GET shows what it creates and costs, POST finds
    or creates the VPN of the connection's (subnet, public IP) and provisions it."""

    template_name = "vpn/vpn_confirm.html"
    form_class = ConfirmForm
    required_action = Action.MANAGE_VPN
    nav_section = NAV_SECTION

    def resolve_objects(self) -> None:
        connections = Connection.objects.restrict(self.actor, Action.VIEW).filter(org=self.org, category="on_prem")
        self.connection = self.get_org_object(connections, action=Action.VIEW, name=self.kwargs["connection_name"])
        self.vpn = services.vpn_for_connection(self.connection)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(verb="provision", vpn=self.vpn, connection=self.connection,
                       monthly_cost=estimated_monthly_cost(), plan_message=_plan_message(self.org))  # fmt: skip
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        def provision(connection: Connection, *, actor: Any) -> VpnConnection:
            try:
                vpn = services.do_create_vpn_for_connection(connection, actor=actor)
                services.do_request_provision(vpn, actor=actor)
            except PlanLimitError as exc:
                raise ValidationError(str(exc)) from None
            vpn.refresh_from_db()
            return vpn

        ok, vpn = self.run_service(form, provision, self.connection)
        if not ok:
            return self.form_invalid(form)
        level = messages.error if vpn.status == VpnStatusChoices.ERROR else messages.success
        level(self.request, f"VPN {vpn.get_status_display().lower()}. {vpn.status_detail}")
        return HttpResponseRedirect(self.org_url("vpn_detail", pk=vpn.pk))
