"""Celery tasks of the VPN app: ids in, work in `provisioning`, outcome recorded on the VPN.

`acks_late`: a worker killed half-way leaves the message unacknowledged, so it is delivered again, and
every step of the work looks before it creates or deletes (resources are tagged with the VPN's id),
so the second run finishes the first one's work instead of duplicating it.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import OperationalError

from accounts.actors import SYSTEM
from accounts.models import User

from .choices import VpnStatusChoices
from .models import VpnConnection
from .provisioning import VpnBackendUnavailable, run_destroy, run_health_check, run_provision, sweep_health

#: Seconds before the first retry of a provisioning that could not reach AWS (then doubled each time).
RETRY_BACKOFF = 5

__all__ = ["destroy_vpn_task", "health_check_vpn_task", "provision_vpn_task", "vpn_health_sweep"]


def _load(vpn_id: str, actor_user_id: int | None) -> tuple[VpnConnection | None, Any]:
    vpn = VpnConnection.objects.select_related("org").filter(pk=vpn_id).first()
    if actor_user_id is None:
        return vpn, SYSTEM
    return vpn, User.objects.filter(pk=actor_user_id, is_active=True).first()


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError, VpnBackendUnavailable),
    retry_backoff=RETRY_BACKOFF,
    max_retries=3,
)
def provision_vpn_task(self: Any, vpn_id: str, actor_user_id: int | None = None) -> str | None:
    vpn, actor = _load(vpn_id, actor_user_id)
    if vpn is None or actor is None or vpn.status != VpnStatusChoices.PROVISIONING:
        return None  # gone, its requester gone, or superseded (a destroy was asked since)
    retry = not self.request.is_eager and self.request.retries < self.max_retries
    return run_provision(vpn, actor=actor, retry_transient=retry).status


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def destroy_vpn_task(self: Any, vpn_id: str, actor_user_id: int | None = None) -> str | None:
    vpn, actor = _load(vpn_id, actor_user_id)
    if vpn is None or actor is None or vpn.status != VpnStatusChoices.DESTROYING:
        return None
    return run_destroy(vpn, actor=actor).status


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def health_check_vpn_task(self: Any, vpn_id: str, actor_user_id: int | None = None) -> str | None:
    vpn, actor = _load(vpn_id, actor_user_id)
    if vpn is None or actor is None:
        return None
    return run_health_check(vpn, actor=actor).status


@shared_task(acks_late=True)
def vpn_health_sweep() -> int:
    """The periodic check of every provisioned VPN (Celery beat, VPN_HEALTH_CHECK_INTERVAL_SECONDS)."""
    return sweep_health()
