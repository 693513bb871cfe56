"""Writing to the audit trail.

`record_event` must run inside the transaction of the change it records: if the row cannot be
written, `AuditWriteError` propagates and the change rolls back with it. Events are hash-chained
per organization; `verify_chains` recomputes every chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, models, transaction

from core import context
from core.exceptions import ServiceUnavailable

from .actors import actor_label, split_actor
from .choices import AuditAction
from .models import APIToken, AuditEvent, Organization

GENESIS_HASH = "0" * 64
REDACTED = "[redacted]"
_SECRETISH_KEY = re.compile(r"(secret|password|passwd|token|private|credential|api_key|apikey|psk)", re.I)
_SAFE_KEYS = {"token_id", "token_name", "token_prefix", "role_cap", "secret_fields", "fingerprints"}




# login hardening: the org-less chain has no row to lock, and anonymous requests (failed logins) append to
# it concurrently; the unique (org, seq) constraint does not hold for NULL org, so it must be serialized.
PLATFORM_CHAIN_LOCK = 0x6175646974  # an arbitrary, fixed pg_advisory_xact_lock key ("audit")


def _lock_platform_chain() -> None:
    """Serialize appends to the org-less chain until the transaction ends (PostgreSQL: an advisory
    transaction lock; SQLite already serializes writers, its transactions start IMMEDIATE)."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PLATFORM_CHAIN_LOCK])


class AuditWriteError(ServiceUnavailable):
    """The audit row could not be written; the change it records must not happen (the API answers 503)."""

    code = "audit_unavailable"
    default_message = "The change was not applied because its audit event could not be recorded."


def redact(value: Any, key: str = "") -> Any:
    """Replace values stored under secret-looking keys; recurse into dicts and lists."""
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    if key and key not in _SAFE_KEYS and _SECRETISH_KEY.search(key) and value not in (None, "", [], {}):
        return REDACTED
    return value


def record_event(
    *,
    org: Organization | None,
    action: str,
    actor: Any = None,
    target: models.Model | None = None,
    target_repr: str = "",
    environment: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the organization's chain, inside the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_event() must run inside the transaction of the change it records.")
    action = AuditAction(action)  # one vocabulary: an unknown action is a programming error, not a new row
    user, token = split_actor(actor)
    actor_type, label = actor_label(actor)
    ctx = context.current()
    try:
        if org is not None:
            # Serialize appends to one chain: concurrent writers wait here instead of forking it.
            Organization.objects.select_for_update().filter(pk=org.pk).values_list("pk", flat=True).first()
        else:
            _lock_platform_chain()
        last = AuditEvent.objects.filter(org=org).order_by("-seq").values("seq", "hash").first()
        event = AuditEvent(
            org=org,
            seq=(last["seq"] + 1) if last else 1,
            prev_hash=last["hash"] if last else GENESIS_HASH,
            actor_type=actor_type,
            actor_user=user,
            actor_token=token if isinstance(token, APIToken) else None,
            actor_label=label,
            action=action,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            target_repr=(target_repr or (str(target) if target is not None else ""))[:255],
            environment=environment,
            request_id=ctx.request_id,
            client_ip=ctx.client_ip,
            details=redact(details or {}),
        )
        event.hash = event.compute_hash()
        # No savepoint: a failed insert must fail the caller's whole transaction anyway.
        event.save(force_insert=True)
    except DatabaseError as exc:
        raise AuditWriteError() from exc
    return event


@dataclass(frozen=True)
class ChainBreak:
    org_slug: str
    event_id: int
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"organization '{self.org_slug}': event id={self.event_id} (#{self.seq}) {self.reason}"


def _iter_chain(org_id: int | None) -> Iterator[AuditEvent]:
    return AuditEvent.objects.filter(org_id=org_id).order_by("seq").iterator(chunk_size=2000)


def verify_chain(org_id: int | None, org_slug: str) -> ChainBreak | None:
    """The first broken event of one chain, or None. Streams rows: constant memory."""
    prev_hash, expected_seq = GENESIS_HASH, 1
    for event in _iter_chain(org_id):
        if event.seq != expected_seq:
            return ChainBreak(org_slug, event.pk, event.seq, f"follows a gap: event #{expected_seq} is missing")
        if event.prev_hash != prev_hash:
            return ChainBreak(org_slug, event.pk, event.seq, "does not link to the event before it")
        if event.compute_hash() != event.hash:
            return ChainBreak(org_slug, event.pk, event.seq, "was modified: its content does not match its hash")
        prev_hash, expected_seq = event.hash, expected_seq + 1
    return None


def verify_chains() -> tuple[int, list[ChainBreak]]:
    """Check every organization's chain (and the org-less one). Returns (chains checked, breaks)."""
    chains = [(None, "(none)"), *Organization.objects.order_by("pk").values_list("pk", "slug")]
    breaks = [b for org_id, slug in chains if (b := verify_chain(org_id, slug)) is not None]
    return len(chains), breaks
