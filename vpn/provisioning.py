"""The VPN work a Celery worker does: cloud calls outside any transaction, then one durable `do_record_*`.

`run_provision`, `run_destroy` and `run_health_check` talk to the platform's VPN backend
(`connections.providers.site_vpn`: AWS Site-to-Site VPN in the platform's own account, region and VPC
from settings) and record what happened. A cloud error is never hidden: its words become the VPN's
status detail (and an `error` status). Every backend call looks before it creates or deletes, so running
any of these again, after a crash or a lost worker, converges on the same state.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.actors import SYSTEM
from accounts.audit import record_event
from accounts.choices import AuditAction
from accounts.policy import Action, can, check
from connections.providers import site_vpn
from connections.verification import run_check
from core import crypto

from .choices import UP_STATUSES, VpnStatusChoices
from .models import VpnConnection

logger = logging.getLogger(__name__)


def vpn_backend() -> site_vpn.VpnBackend:
    """The backend in the configured region and VPC (its settings are read by the provider package)."""
    return site_vpn.backend(timeout=float(settings.CONNECTION_CHECK_TIMEOUT))


def _check_recorder(actor: Any, vpn: VpnConnection) -> None:
    """A task records for the person who asked (MANAGE_VPN again: they may have lost it) or the platform."""
    check(actor, Action.VIEW if actor is SYSTEM else Action.MANAGE_VPN, vpn)


def _failure(exc: site_vpn.VpnBackendError) -> str:
    where = f"Could not {exc.step}. " if exc.step and not exc.message.startswith("Could not") else ""
    return f"{where}{exc.message}"


# --- the work ---------------------------------------------------------------------------------------


class VpnBackendUnavailable(ConnectionError):
    """AWS could not be reached (a transport failure): a worker retries the task with backoff; the VPN
    stays `provisioning` and its status detail says so. A ConnectionError, so Celery's autoretry takes it."""


def run_provision(vpn: VpnConnection, *, actor: Any, retry_transient: bool = False) -> VpnConnection:
    """Create (or find) every resource of the VPN and record the result; a cloud error becomes `error`.

    With `retry_transient` (a worker with retries left), an unreachable endpoint is noted on the VPN and
    raised as `VpnBackendUnavailable` for Celery to retry; every step looks before it creates, so the
    retry picks up where this run stopped. In eager mode the person who asked sees `error` at once.
    """
    try:
        result = vpn_backend().provision(str(vpn.pk), public_ip=vpn.public_ip, onprem_subnet=vpn.onprem_subnet)
    except site_vpn.VpnBackendError as exc:
        logger.warning("Provisioning VPN %s failed at %s.", vpn.pk, exc.step or "an unknown step")
        if exc.transient and retry_transient:
            do_record_retrying(vpn, actor=actor, message=_failure(exc))
            raise VpnBackendUnavailable(exc.step or "provision") from None
        return do_record_failure(vpn, actor=actor, what="provision", message=_failure(exc))
    return do_record_provisioned(vpn, result, actor=actor)


def run_destroy(vpn: VpnConnection, *, actor: Any) -> VpnConnection:
    """Delete every resource of the VPN in reverse order and record it; a cloud error becomes `error`."""
    try:
        notes = vpn_backend().destroy(str(vpn.pk), onprem_subnet=vpn.onprem_subnet)
    except site_vpn.VpnBackendError as exc:
        logger.warning("Destroying VPN %s failed at %s.", vpn.pk, exc.step or "an unknown step")
        return do_record_failure(vpn, actor=actor, what="destroy", message=_failure(exc))
    return do_record_destroyed(vpn, actor=actor, notes=notes)


def _tunnel_health(found: site_vpn.VpnHealth | None) -> dict[str, Any]:
    return found.as_dict() if found is not None else {"missing": True, "tunnels": []}


def run_health_check(vpn: VpnConnection, *, actor: Any) -> VpnConnection:
    """Tunnel 1 and 2 from the cloud, then each on-prem connection's own test (hypervisor API and
    credentials, over the VPN), when the actor may test it; saved on the VPN."""
    try:
        found = vpn_backend().health([str(vpn.pk)]).get(str(vpn.pk))
    except site_vpn.VpnBackendError as exc:
        health: dict[str, Any] = {"error": _failure(exc), "tunnels": []}
        return do_record_health_error(vpn, health, actor=actor)
    health = _tunnel_health(found)
    hypervisors = []
    for connection in vpn.connections_using().select_related("org"):
        if actor is not SYSTEM and not can(actor, Action.TEST_CONNECTION, connection):
            continue
        outcome = run_check(connection, actor=actor)
        hypervisors.append({"connection": connection.name, "ok": outcome.ok, "message": outcome.message})
    health["hypervisors"] = hypervisors
    return do_record_health(vpn, health, actor=actor)


def sweep_health(page_size: int = 200) -> int:
    """Every provisioned VPN, asked of the cloud in pages of ids (one describe call per page, never one
    per VPN); hypervisors are left to the connections' own hourly sweep. Returns how many were recorded."""
    vpns = list(
        VpnConnection.objects.select_related("org")
        .filter(status__in=[*UP_STATUSES, VpnStatusChoices.PROVISIONING])
        .exclude(vpn_connection_id="")
        .order_by("pk")
    )
    if not vpns:
        return 0
    try:
        found = vpn_backend().health([str(v.pk) for v in vpns], page_size=page_size)
    except site_vpn.VpnBackendError as exc:
        logger.warning("VPN health sweep failed: %s", exc.message)
        return 0
    recorded = 0
    for vpn in vpns:
        try:
            do_record_health(vpn, _tunnel_health(found.get(str(vpn.pk))), actor=SYSTEM)
            recorded += 1
        except Exception as exc:  # one broken row must not stop the sweep
            logger.warning("Recording the health of VPN %s failed: %s", vpn.pk, exc.__class__.__name__)
    return recorded


# --- recording --------------------------------------------------------------------------------------


def _locked(vpn: VpnConnection) -> VpnConnection:
    return VpnConnection.objects.select_for_update().select_related("org").get(pk=vpn.pk)


def _psk_context(vpn: VpnConnection) -> crypto.SecretContext:
    return crypto.SecretContext(org=str(vpn.org_id), model="vpn.vpnconnection", row=str(vpn.pk), field="psks")


def load_psks(vpn: VpnConnection) -> list[str]:
    """Both tunnels' pre-shared keys; only `downloads.router_config` calls it (the download is audited)."""
    if not vpn.psk_envelope:
        return []
    return list(crypto.decrypt_json(vpn.psk_envelope, context=_psk_context(vpn))["psks"])


@transaction.atomic(durable=True)
def do_rewrap_vpn_psks(vpn_pk: Any, *, ring: crypto.KeyRing) -> bool:
    """Re-wrap one VPN's keys to the ring's primary key (`manage.py rotate_vpn_keys`, like connection
    secrets); False when there is nothing to do, so re-runs are cheap and safe."""
    vpn = VpnConnection.objects.select_for_update().select_related("org").filter(pk=vpn_pk).first()
    if vpn is None or not vpn.psk_envelope or not crypto.needs_rewrap(vpn.psk_envelope, ring):
        return False
    old_kid = crypto.envelope_kid(vpn.psk_envelope)
    envelope = crypto.rewrap(vpn.psk_envelope, context=_psk_context(vpn), ring=ring)
    VpnConnection.objects.filter(pk=vpn.pk).update(psk_envelope=envelope, psk_key_id=ring.primary.kid)
    record_event(org=vpn.org, action=AuditAction.VPN_KEY_REWRAPPED, target=vpn,
                 details={"old_key_id": old_kid, "new_key_id": ring.primary.kid})  # fmt: skip
    return True


@transaction.atomic(durable=True)
def do_record_provisioned(vpn: VpnConnection, result: Any, *, actor: Any) -> VpnConnection:
    """Save what provisioning made: ids, tunnels (keys encrypted), and the status its state gives."""
    _check_recorder(actor, vpn)
    vpn = _locked(vpn)
    ring = crypto.KeyRing.from_settings()
    vpn.region, vpn.vpc_id, vpn.vpc_cidr = result.region, result.vpc_id, result.vpc_cidr
    vpn.vpn_gateway_id, vpn.customer_gateway_id = result.vpn_gateway_id, result.customer_gateway_id
    vpn.vpn_connection_id, vpn.route_table_ids = result.vpn_connection_id, list(result.route_table_ids)
    first, second = result.tunnels
    vpn.tunnel1_outside_ip, vpn.tunnel1_inside_cidr = first.outside_ip, first.inside_cidr
    vpn.tunnel2_outside_ip, vpn.tunnel2_inside_cidr = second.outside_ip, second.inside_cidr
    psks = [first.psk, second.psk]
    vpn.psk_envelope = crypto.encrypt_json({"psks": psks}, context=_psk_context(vpn), ring=ring)
    vpn.psk_key_id = ring.primary.kid
    vpn.psk_fingerprints = {f"tunnel{i}": crypto.fingerprint(psk, ring=ring) for i, psk in enumerate(psks, 1)}
    if result.state == "available":
        vpn.status = VpnStatusChoices.ACTIVE
        detail = "Provisioned; the VPN connection is available. Download the router configuration next."
    else:
        vpn.status = VpnStatusChoices.PROVISIONING
        detail = f"The VPN connection is {result.state or 'not ready'}; the health check will say when it is up."
    vpn.status_detail = " ".join([detail, *result.notes])
    vpn.provisioned_at, vpn.destroyed_at = timezone.now(), None
    vpn.save()
    record_event(
        org=vpn.org, action=AuditAction.VPN_PROVISIONED, actor=actor, target=vpn,
        details={"status": vpn.status, "vpn_connection_id": vpn.vpn_connection_id, "vpn_gateway_id": vpn.vpn_gateway_id,
                 "customer_gateway_id": vpn.customer_gateway_id, "notes": list(result.notes)},
    )  # fmt: skip
    return vpn


@transaction.atomic(durable=True)
def do_record_failure(vpn: VpnConnection, *, actor: Any, what: str, message: str) -> VpnConnection:
    """error, with the cloud's own message (`what`: "provision" or "destroy")."""
    _check_recorder(actor, vpn)
    vpn = _locked(vpn)
    vpn.status = VpnStatusChoices.ERROR
    vpn.status_detail = message[:2000]
    vpn.save(update_fields=["status", "status_detail", "updated_at"])
    action = AuditAction.VPN_PROVISION_FAILED if what == "provision" else AuditAction.VPN_DESTROY_FAILED
    record_event(org=vpn.org, action=action, actor=actor, target=vpn, details={"message": vpn.status_detail})
    return vpn


@transaction.atomic(durable=True)
def do_record_retrying(vpn: VpnConnection, *, actor: Any, message: str) -> VpnConnection:
    """Still provisioning: AWS was unreachable and the worker will try again (the reason is kept)."""
    _check_recorder(actor, vpn)
    vpn = _locked(vpn)
    vpn.status_detail = f"{message[:1900]} Retrying shortly."
    vpn.save(update_fields=["status_detail", "updated_at"])
    record_event(org=vpn.org, action=AuditAction.VPN_PROVISION_FAILED, actor=actor, target=vpn,
                 details={"message": vpn.status_detail, "retrying": True})  # fmt: skip
    return vpn


@transaction.atomic(durable=True)
def do_record_destroyed(vpn: VpnConnection, *, actor: Any, notes: list[str]) -> VpnConnection:
    """destroyed: ids, tunnels and keys are forgotten (the cloud resources are gone)."""
    _check_recorder(actor, vpn)
    vpn = _locked(vpn)
    removed = {"vpn_connection_id": vpn.vpn_connection_id, "vpn_gateway_id": vpn.vpn_gateway_id,
               "customer_gateway_id": vpn.customer_gateway_id}  # fmt: skip
    vpn.status = VpnStatusChoices.DESTROYED
    vpn.status_detail = " ".join(["Destroyed: no resource of this VPN is left.", *notes])
    vpn.vpn_gateway_id = vpn.customer_gateway_id = vpn.vpn_connection_id = ""
    vpn.route_table_ids = []
    vpn.tunnel1_outside_ip = vpn.tunnel2_outside_ip = None
    vpn.tunnel1_inside_cidr = vpn.tunnel2_inside_cidr = ""
    vpn.psk_envelope, vpn.psk_key_id, vpn.psk_fingerprints = "", "", {}
    vpn.health, vpn.health_checked_at = {}, None
    vpn.destroyed_at = timezone.now()
    vpn.save()
    record_event(org=vpn.org, action=AuditAction.VPN_DESTROYED, actor=actor, target=vpn,
                 details={"removed": removed, "notes": notes})  # fmt: skip
    return vpn


def status_from_health(vpn: VpnConnection, health: dict[str, Any]) -> str:
    """active when every tunnel is up (or, without telemetry, the connection is available); tunnel_down
    when a tunnel is down; error when the cloud says the connection is gone; else unchanged."""
    state = health.get("state", "")
    if state in ("deleted", "deleting") or health.get("missing"):
        return VpnStatusChoices.ERROR
    if state == "pending":
        return VpnStatusChoices.PROVISIONING
    statuses = [t.get("status", "") for t in health.get("tunnels", [])]
    if health.get("telemetry"):
        all_up = bool(statuses) and all(s == "UP" for s in statuses)
        return VpnStatusChoices.ACTIVE if all_up else VpnStatusChoices.TUNNEL_DOWN
    return VpnStatusChoices.ACTIVE if state == "available" else vpn.status


def describe_health(health: dict[str, Any]) -> str:
    if health.get("missing"):
        return "The VPN connection was not found in the cloud account: provision it again."
    tunnels = health.get("tunnels", [])
    words = ", ".join(f"tunnel {i} {t.get('status', 'UNKNOWN')}" for i, t in enumerate(tunnels, 1))
    source = "" if health.get("telemetry") else " (no tunnel telemetry: the connection's state)"
    return f"VPN connection {health.get('state', 'unknown')}: {words}{source}."


@transaction.atomic(durable=True)
def do_record_health(vpn: VpnConnection, health: dict[str, Any], *, actor: Any) -> VpnConnection:
    """Save a health result and the status it gives; audited for a person's check, for the sweep only on change."""
    _check_recorder(actor, vpn)
    vpn = _locked(vpn)
    if vpn.status in (VpnStatusChoices.DESTROYING, VpnStatusChoices.DESTROYED):
        return vpn  # a check that raced a teardown says nothing about the new state
    old = vpn.status
    vpn.health, vpn.health_checked_at = health, timezone.now()
    vpn.status = status_from_health(vpn, health)
    vpn.status_detail = describe_health(health)
    vpn.save(update_fields=["health", "health_checked_at", "status", "status_detail", "updated_at"])
    if actor is not SYSTEM or old != vpn.status:
        record_event(org=vpn.org, action=AuditAction.VPN_HEALTH_CHECKED, actor=actor, target=vpn,
                     details={"old": old, "new": vpn.status, "detail": vpn.status_detail})  # fmt: skip
    return vpn


@transaction.atomic(durable=True)
def do_record_health_error(vpn: VpnConnection, health: dict[str, Any], *, actor: Any) -> VpnConnection:
    """The cloud could not be asked: the result says so, the status is left as it was (nothing is known)."""
    _check_recorder(actor, vpn)
    vpn = _locked(vpn)
    vpn.health, vpn.health_checked_at = health, timezone.now()
    vpn.save(update_fields=["health", "health_checked_at", "updated_at"])
    record_event(org=vpn.org, action=AuditAction.VPN_HEALTH_CHECKED, actor=actor, target=vpn,
                 details={"error": health.get("error", "")})  # fmt: skip
    return vpn
