"""Writing to the audit trail.

`record_event` must run inside the transaction of the change it records: if the row cannot be
written, `AuditWriteError` propagates and the change rolls back with it. Events are hash-chained
per organization; `verify_chains` recomputes every chain.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, models, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from core import context
from core.exceptions import ServiceUnavailable

from .actors import actor_label, split_actor
from .choices import AuditAction
from .models import APIToken, AuditCheckpoint, AuditEvent, AuditHead, Organization, chain_key

GENESIS_HASH = "0" * 64
REDACTED = "[redacted]"
_SECRETISH_KEY = re.compile(r"(secret|password|passwd|passphrase|token|private|credential|api_?key|psk)", re.I)
# A key whose last word is one of these names a fact ABOUT secrets (how many, which, when), not a secret:
# `tokens_revoked`, `revoked_token_count`, `token_prefix`, `secret_fields`, `password_changed_at`.
_FACT_WORDS = frozenset(
    {
        "count", "counts", "total", "revoked", "id", "ids", "name", "names", "prefix", "prefixes", "fields",
        "field", "fingerprint", "fingerprints", "cap", "type", "kind", "at", "set", "changed", "used",
        "status", "length", "expires", "expired", "lineage", "parent",
    }
)  # fmt: skip
_WORD_SPLIT = re.compile(r"[^a-zA-Z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
CHECKPOINT_SALT = "accounts.audit.checkpoint"


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


def is_secret_key(key: str) -> bool:
    """Whether a details key names a secret value.

    The rule: the key mentions a secret-ish word (token, password, secret, private, credential, api key,
    psk) AND its last word is not a fact word (`count`, `revoked`, `id`, `name`, `prefix`, `fields`,
    `at`, ...). So `password`, `client_secret`, `new_token` are secrets; `tokens_revoked`,
    `revoked_token_count`, `token_prefix` and `secret_fields` are facts about them.
    """
    if not key or not _SECRETISH_KEY.search(key):
        return False
    words = [w.lower() for w in _WORD_SPLIT.split(key) if w]
    return not words or words[-1] not in _FACT_WORDS


def redact(value: Any, key: str = "") -> Any:
    """Replace values stored under secret keys (`is_secret_key`); recurse into dicts and lists.
    Booleans are never secrets (`password_set: true` is a fact)."""
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    if isinstance(value, bool) or value in (None, "", [], {}):
        return value
    if is_secret_key(key):
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
        # The head, not the rows, says where the chain ends: after the newest rows were deleted, the next
        # event still follows the head, so the gap stays visible to verify_audit.
        key = chain_key(org.pk if org is not None else None)
        head = AuditHead.objects.filter(chain=key).first()
        if head is None:
            last = AuditEvent.objects.filter(org=org).order_by("-seq").values("seq", "hash").first()
            head = AuditHead(
                chain=key,
                org=org,
                last_seq=last["seq"] if last else 0,
                last_hash=last["hash"] if last else GENESIS_HASH,
                count=AuditEvent.objects.filter(org=org).count() if last else 0,
            )
        event = AuditEvent(
            org=org,
            seq=head.last_seq + 1,
            prev_hash=head.last_hash,
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
        head.last_seq, head.last_hash, head.count = event.seq, event.hash, head.count + 1
        head.save()
    except DatabaseError as exc:
        raise AuditWriteError() from exc
    return event


@dataclass(frozen=True)
class PendingEvent:
    """One event for `record_events`: the arguments `record_event` takes."""

    org: Organization
    action: str
    actor: Any = None
    target: models.Model | None = None
    target_repr: str = ""
    environment: str = ""
    details: dict[str, Any] | None = None


def record_events(events: list[PendingEvent]) -> list[AuditEvent]:
    """Append many events, in the given order, to their organizations' chains in a constant number of
    queries (a health sweep's chunk writes one per check): the organizations are locked in one
    statement (by pk, like any other writer's single lock), their heads read in one, the events inserted
    in one and the heads saved in one. Same rows, hashes and chain as calling `record_event` for each.
    Organization-less events are not batched (they take the platform chain's own lock): use `record_event`.
    """
    if not events:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_events() must run inside the transaction of the change it records.")
    if any(e.org is None for e in events):
        raise ValueError("record_events() appends to organizations' chains only.")
    ctx = context.current()
    try:
        org_ids = sorted({e.org.pk for e in events})
        list(Organization.objects.select_for_update().filter(pk__in=org_ids).order_by("pk").values_list("pk"))
        keys = {org_id: chain_key(org_id) for org_id in org_ids}
        heads = {h.org_id: h for h in AuditHead.objects.filter(chain__in=keys.values())}
        for org_id in org_ids:
            if org_id not in heads:  # a chain's first events (rare): where the rows end, as record_event does
                last = AuditEvent.objects.filter(org_id=org_id).order_by("-seq").values("seq", "hash").first()
                heads[org_id] = AuditHead(
                    chain=keys[org_id], org_id=org_id, last_seq=last["seq"] if last else 0,
                    last_hash=last["hash"] if last else GENESIS_HASH,
                    count=AuditEvent.objects.filter(org_id=org_id).count() if last else 0,
                )
        rows = []
        for pending in events:
            head = heads[pending.org.pk]
            action = AuditAction(pending.action)
            user, token = split_actor(pending.actor)
            actor_type, label = actor_label(pending.actor)
            target = pending.target
            event = AuditEvent(
                org=pending.org, seq=head.last_seq + 1, prev_hash=head.last_hash, actor_type=actor_type,
                actor_user=user, actor_token=token if isinstance(token, APIToken) else None, actor_label=label,
                action=action, target_type=target._meta.label_lower if target is not None else "",
                target_id=str(target.pk) if target is not None else "",
                target_repr=(pending.target_repr or (str(target) if target is not None else ""))[:255],
                environment=pending.environment, request_id=ctx.request_id, client_ip=ctx.client_ip,
                details=redact(pending.details or {}),
            )
            event.hash = event.compute_hash()
            head.last_seq, head.last_hash, head.count = event.seq, event.hash, head.count + 1
            rows.append(event)
        AuditEvent.objects.bulk_create(rows)
        new_heads = [h for h in heads.values() if h.pk is None]
        old_heads = [h for h in heads.values() if h.pk is not None]
        if new_heads:
            AuditHead.objects.bulk_create(new_heads)
        if old_heads:
            now = timezone.now()  # bulk_update skips auto_now
            for head in old_heads:
                head.updated_at = now
            AuditHead.objects.bulk_update(old_heads, ["last_seq", "last_hash", "count", "updated_at"])
    except DatabaseError as exc:
        raise AuditWriteError() from exc
    return rows


@dataclass(frozen=True)
class ChainBreak:
    org_slug: str
    event_id: int | None
    seq: int
    reason: str

    def __str__(self) -> str:
        if self.event_id is None:
            return f"organization '{self.org_slug}': {self.reason}"
        return f"organization '{self.org_slug}': event id={self.event_id} (#{self.seq}) {self.reason}"


def _iter_chain(org_id: int | None) -> Iterator[AuditEvent]:
    return AuditEvent.objects.filter(org_id=org_id).order_by("seq").iterator(chunk_size=2000)


def checkpoint_signature(checkpoint: AuditCheckpoint) -> str:
    """HMAC-SHA256 of the checkpoint's chain, sequence, hash and time, keyed from SECRET_KEY."""
    return salted_hmac(CHECKPOINT_SALT, checkpoint.signed_payload(), algorithm="sha256").hexdigest()


def verify_chain(org_id: int | None, org_slug: str) -> ChainBreak | None:
    """The first break of one chain, or None. Streams rows: constant memory.

    Besides each row's hash and link: the chain must end where its head says (deleting the newest
    events leaves the head pointing past them) and hold every signed checkpoint (rewinding the head
    as well still leaves checkpoints that name events no longer there).
    """
    key = chain_key(org_id)
    checkpoints = {cp.seq: cp for cp in AuditCheckpoint.objects.filter(chain=key)}
    for cp in checkpoints.values():
        if not hmac.compare_digest(cp.signature, checkpoint_signature(cp)):
            reason = f"checkpoint #{cp.seq} has an invalid signature (forged or altered)"
            return ChainBreak(org_slug, None, cp.seq, reason)
    prev_hash, expected_seq, count, last_id = GENESIS_HASH, 1, 0, None
    for event in _iter_chain(org_id):
        if event.seq != expected_seq:
            return ChainBreak(org_slug, event.pk, event.seq, f"follows a gap: event #{expected_seq} is missing")
        if event.prev_hash != prev_hash:
            return ChainBreak(org_slug, event.pk, event.seq, "does not link to the event before it")
        if event.compute_hash() != event.hash:
            return ChainBreak(org_slug, event.pk, event.seq, "was modified: its content does not match its hash")
        if (cp := checkpoints.get(event.seq)) is not None and cp.hash != event.hash:
            return ChainBreak(org_slug, event.pk, event.seq, f"does not match signed checkpoint #{cp.seq}")
        prev_hash, expected_seq, count, last_id = event.hash, expected_seq + 1, count + 1, event.pk
    last_seq = expected_seq - 1
    if checkpoints and (newest := max(checkpoints)) > last_seq:
        reason = f"ends at #{last_seq} but signed checkpoint #{newest} exists: the newest events were deleted"
        return ChainBreak(org_slug, None, last_seq, reason)
    head = AuditHead.objects.filter(chain=key).first()
    if head is None:
        if count:
            return ChainBreak(org_slug, last_id, last_seq, "has no head record (the chain's end is unknown)")
        return None
    if head.last_seq != last_seq or head.last_hash != prev_hash or head.count != count:
        return ChainBreak(
            org_slug,
            None,
            last_seq,
            f"ends at #{last_seq} ({count} events) but its head records #{head.last_seq} ({head.count} events): "
            "the newest events were deleted or the head was altered",
        )
    return None


def verify_chains() -> tuple[int, list[ChainBreak]]:
    """Check every organization's chain (and the org-less one). Returns (chains checked, breaks)."""
    chains = [(None, "(none)"), *Organization.objects.order_by("pk").values_list("pk", "slug")]
    breaks = [b for org_id, slug in chains if (b := verify_chain(org_id, slug)) is not None]
    return len(chains), breaks


def write_checkpoints() -> int:
    """Sign each chain's current head unless it is already signed; returns how many were written.
    Idempotent (one checkpoint per chain and sequence), so the beat task is safe to retry."""
    written = 0
    for head in AuditHead.objects.filter(last_seq__gt=0).order_by("chain"):
        with transaction.atomic():
            locked = AuditHead.objects.select_for_update().get(pk=head.pk)
            if AuditCheckpoint.objects.filter(chain=locked.chain, seq=locked.last_seq).exists():
                continue
            cp = AuditCheckpoint(chain=locked.chain, org_id=locked.org_id, seq=locked.last_seq, hash=locked.last_hash)
            cp.signature = checkpoint_signature(cp)
            cp.save(force_insert=True)
            written += 1
    return written
