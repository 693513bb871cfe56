"""State changes of VPN connections: one `do_*` per change (policy check, one transaction, one audit event).

People ask for work with `do_request_*` (provision, destroy, health check): the request is recorded
(status provisioning / destroying, audit event) in its own durable transaction, then the Celery task is
sent with ids only (`core.queue.send_on_commit`). The task runs the cloud calls outside any
transaction (`provisioning.py`) and records the outcome with `do_record_*`, each durable too, so a
worker killed half-way leaves a status that a retry moves on from, never a half-written row.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.actors import acting_user
from accounts.audit import record_event
from accounts.choices import AuditAction, PlanChoices
from accounts.models import Organization
from accounts.policy import Action, check
from connections.models import Connection
from connections.providers import FieldError
from connections.providers import validators as v
from connections.providers.base import ROUTER_VENDOR_CHOICES
from connections.services import PLAN_LABELS, PlanLimitError
from core.queue import send_on_commit

from .choices import UP_STATUSES, VpnStatusChoices
from .models import VpnConnection, estimated_monthly_cost
from .provisioning import _locked
from .tasks import destroy_vpn_task, health_check_vpn_task, provision_vpn_task

ON_PREM = "on_prem"


# --- plan and input -------------------------------------------------------------------------------


def check_plan_allows_vpn(org: Organization) -> None:
    """Site-to-site VPNs come with on-prem connections: the Enterprise plan (same words as connections)."""
    if org.plan != PlanChoices.ENTERPRISE:
        raise PlanLimitError(
            f"Site-to-site VPN connections need the {PLAN_LABELS[PlanChoices.ENTERPRISE]} plan; "
            f"'{org.slug}' is on the {PLAN_LABELS[org.plan]} plan."
        )


def clean_network(onprem_subnet: Any, public_ip: Any) -> tuple[str, str]:
    """The on-prem subnet (RFC 1918 CIDR) and the router's public IPv4, with field errors."""
    errors: dict[str, list[str]] = {}
    subnet = ip = ""
    try:
        subnet = v.cidr(onprem_subnet)
    except FieldError as exc:
        errors["onprem_subnet"] = [str(exc)]
    try:
        ip = v.public_ipv4(public_ip)
    except FieldError as exc:
        errors["public_ip"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    return subnet, ip


def _user_id(actor: Any) -> int | None:
    user = acting_user(actor)
    return user.pk if user is not None else None


# --- create ---------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def do_create_vpn(
    org: Organization, *, actor: Any, onprem_subnet: Any, public_ip: Any, router_vendor: str = ""
) -> VpnConnection:
    """The VPN for (subnet, public IP): the existing one when the pair has one, else a new pending one."""
    check(actor, Action.MANAGE_VPN, org)
    check_plan_allows_vpn(org)
    subnet, ip = clean_network(onprem_subnet, public_ip)
    if router_vendor and router_vendor not in dict(ROUTER_VENDOR_CHOICES):
        allowed = ", ".join(dict(ROUTER_VENDOR_CHOICES))
        raise ValidationError({"router_vendor": f"Select a valid choice: {allowed}."})
    existing = VpnConnection.objects.filter(org=org, onprem_subnet=subnet, public_ip=ip).first()
    if existing is not None:
        return existing
    vpn = VpnConnection(org=org, onprem_subnet=subnet, public_ip=ip, router_vendor=router_vendor or "",
                        created_by=acting_user(actor))  # fmt: skip
    try:
        with transaction.atomic():
            vpn.save(force_insert=True)
    except IntegrityError:  # a concurrent request created it first
        return VpnConnection.objects.get(org=org, onprem_subnet=subnet, public_ip=ip)
    record_event(
        org=org,
        action=AuditAction.VPN_CREATED,
        actor=actor,
        target=vpn,
        details={"onprem_subnet": subnet, "public_ip": ip, "monthly_cost_usd": str(estimated_monthly_cost())},
    )
    return vpn


def vpn_for_connection(connection: Connection) -> VpnConnection | None:
    """The VPN an on-prem connection uses (by its subnet and public IP), if one exists."""
    if connection.category != ON_PREM:
        return None
    subnet, ip = connection.config.get("subnet"), connection.config.get("public_ip")
    if not subnet or not ip:
        return None
    return VpnConnection.objects.filter(org_id=connection.org_id, onprem_subnet=subnet, public_ip=ip).first()


def do_create_vpn_for_connection(connection: Connection, *, actor: Any) -> VpnConnection:
    """The VPN of an on-prem connection's (subnet, public IP), created when it has none yet."""
    if connection.category != ON_PREM:
        raise ValidationError({"connection": f"'{connection.name}' is not an on-prem connection: it needs no VPN."})
    return do_create_vpn(
        connection.org,
        actor=actor,
        onprem_subnet=connection.config.get("subnet"),
        public_ip=connection.config.get("public_ip"),
        router_vendor=connection.config.get("router_vendor", ""),
    )


# --- provision ------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def do_mark_provisioning(vpn: VpnConnection, *, actor: Any) -> VpnConnection:
    """provisioning, and the audit event of the request (the task records the outcome)."""
    check(actor, Action.MANAGE_VPN, vpn)
    check_plan_allows_vpn(vpn.org)
    vpn = _locked(vpn)
    if vpn.status == VpnStatusChoices.DESTROYING:
        raise ValidationError({"non_field_errors": "The VPN is being destroyed; provision it again afterwards."})
    old = vpn.status
    vpn.status = VpnStatusChoices.PROVISIONING
    vpn.status_detail = "Provisioning started."
    vpn.save(update_fields=["status", "status_detail", "updated_at"])
    record_event(
        org=vpn.org, action=AuditAction.VPN_PROVISION_REQUESTED, actor=actor, target=vpn,
        details={"old": old, "new": vpn.status, "monthly_cost_usd": str(estimated_monthly_cost())},
    )  # fmt: skip
    return vpn


def do_request_provision(vpn: VpnConnection, *, actor: Any) -> Any:
    """Provision (or repair) the VPN: every resource is looked up before it is created, so asking again
    after an error, or while it is active, never makes a second one. Eager mode: done on return."""
    vpn = do_mark_provisioning(vpn, actor=actor)
    return send_on_commit(provision_vpn_task, str(vpn.pk), _user_id(actor))


# --- destroy --------------------------------------------------------------------------------------


def destroy_blockers(vpn: VpnConnection) -> list[str]:
    """Names of the on-prem connections that use the VPN: while there are any, it is not destroyed."""
    return list(vpn.connections_using().values_list("name", flat=True))


@transaction.atomic(durable=True)
def do_mark_destroying(vpn: VpnConnection, *, actor: Any) -> VpnConnection:
    check(actor, Action.MANAGE_VPN, vpn)
    vpn = _locked(vpn)
    blockers = destroy_blockers(vpn)
    if blockers:
        raise ValidationError(
            {"non_field_errors": f"The VPN is used by on-prem connections: {', '.join(blockers)}. "
             "Delete them or move them to another network first."}
        )  # fmt: skip
    if vpn.status == VpnStatusChoices.PROVISIONING and not vpn.vpn_connection_id:
        raise ValidationError({"non_field_errors": "The VPN is being provisioned; destroy it once that has finished."})
    old = vpn.status
    vpn.status = VpnStatusChoices.DESTROYING
    vpn.status_detail = "Teardown started."
    vpn.save(update_fields=["status", "status_detail", "updated_at"])
    record_event(org=vpn.org, action=AuditAction.VPN_DESTROY_REQUESTED, actor=actor, target=vpn,
                 details={"old": old, "new": vpn.status})  # fmt: skip
    return vpn


def do_request_destroy(vpn: VpnConnection, *, actor: Any) -> Any:
    """Destroy the VPN's cloud resources in reverse order (refused while on-prem connections use it)."""
    vpn = do_mark_destroying(vpn, actor=actor)
    return send_on_commit(destroy_vpn_task, str(vpn.pk), _user_id(actor))


# --- health ---------------------------------------------------------------------------------------


def do_request_health_check(vpn: VpnConnection, *, actor: Any) -> Any:
    """Tunnel states from the cloud and the hypervisors' own tests; saved on the VPN (eager: on return)."""
    check(actor, Action.MANAGE_VPN, vpn)
    vpn = VpnConnection.objects.get(pk=vpn.pk)  # the caller's copy may predate the provisioning
    if vpn.status not in UP_STATUSES and not vpn.vpn_connection_id:
        raise ValidationError({"non_field_errors": "The VPN is not provisioned: there are no tunnels to check."})
    return send_on_commit(health_check_vpn_task, str(vpn.pk), _user_id(actor))
