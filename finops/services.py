"""FinOps state changes: cost syncs (request, run, replace a range), budgets, budget and anomaly alerts.

**Sync.** `do_request_sync` records a `SyncJob` (incremental from the last synced day, or a backfill of a
chosen range) and queues `tasks.sync_costs_task` on commit. `run_sync_job` (the task's body) opens the
connection's credentials through `use_credentials` (audited and masked like any use), asks the provider's
`cost_source` for FOCUS rows, and replaces the job's whole day range in **one transaction** (delete the
range, insert the rows): a re-sync gives the same rows, and a failed sync (the cloud unreachable, a bad
answer, the database refusing the write) changes nothing that was stored before. Providers without a cost
source get an `unavailable` job with "Cost sync is not available for <provider>." (a status, not an error).

**Attribution.** A row goes to the environment its environment tag names (slug or name, case-insensitive)
among the environments the connection is authorized for; an untagged row goes to the connection's only
authorized environment, and stays unattributed when there are several.

**Alerts** go through the platform's existing alert path: an `accounts.Notification` (the banner), the
admins' e-mail and the webhook (`connections.verification.deliver_alert`), plus an audit event. A
`BudgetAlert` / `CostAnomaly` row is unique per crossing / anomaly, so however often syncs run, each
crossing and each anomaly alerts exactly once.

**Forecast** (documented in the README): linear run rate. Month-to-date billed cost divided by the days
of the month that have data so far, times the days in the month.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Max, QuerySet, Sum
from django.utils import timezone

from accounts.actors import SYSTEM, acting_user
from accounts.audit import record_event
from accounts.choices import AuditAction
from accounts.models import Environment, Notification, Organization
from accounts.policy import Action, check
from connections.choices import ConnectionStatusChoices
from connections.models import Connection
from connections.providers.costs import CostFetchFailed, CostRequest, CostRow, unavailable_reason
from connections.runtime import use_credentials
from connections.verification import build_context, deliver_alert
from core import masking
from core.queue import send_on_commit

from .choices import AlertKindChoices, BudgetScopeChoices, SyncKindChoices, SyncStatusChoices
from .models import Budget, BudgetAlert, CostAnomaly, CostRecord, SyncJob
from .reports import BudgetStatus, budget_statuses, month_start, next_month

__all__ = [
    "ANOMALY_LOOKBACK_DAYS",
    "budget_status",
    "cost_sync_unavailable",
    "do_create_budget",
    "do_delete_budget",
    "do_request_sync",
    "do_update_budget",
    "evaluate_anomalies",
    "evaluate_budgets",
    "run_sync_job",
]

#: The anomaly check looks at the last days of a synced range only: a 90-day backfill must not page
#: anyone about last quarter.
ANOMALY_LOOKBACK_DAYS = 7
FINISHED = (SyncStatusChoices.SUCCEEDED, SyncStatusChoices.FAILED, SyncStatusChoices.UNAVAILABLE)


SYNC_TASK = "finops.tasks.sync_costs_task"


def today() -> dt.date:
    """The UTC day (a function, so tests pin the clock)."""
    return timezone.now().astimezone(dt.UTC).date()


# --------------------------------------------------------------------------------------------------
# Sync
# --------------------------------------------------------------------------------------------------


def cost_sync_unavailable(connection: Connection) -> str:
    """"" when the platform can pull this connection's costs, else the status to show instead."""
    spec = connection.provider_spec
    if spec.cost_source is None:
        return unavailable_reason(spec.label)
    return ""


def _incremental_range(connection: Connection, now: dt.date) -> tuple[dt.date, dt.date]:
    """From the last synced day (re-read: its figures were partial) through today."""
    last = CostRecord.objects.filter(connection=connection).aggregate(last=Max("charge_period_start"))["last"]
    start = last if last is not None else now - dt.timedelta(days=settings.FINOPS_INITIAL_SYNC_DAYS)
    start = max(start, now - dt.timedelta(days=settings.FINOPS_MAX_SYNC_DAYS - 1))
    return start, now + dt.timedelta(days=1)


def _backfill_range(start: Any, end: Any, now: dt.date) -> tuple[dt.date, dt.date]:
    """The chosen range [start, end] (inclusive days), validated field by field; returned end-exclusive."""
    errors: dict[str, str] = {}
    parsed: dict[str, dt.date] = {}
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, dt.date):
            parsed[name] = value
            continue
        try:
            parsed[name] = dt.date.fromisoformat(str(value))
        except (TypeError, ValueError):
            errors[name] = "Enter a date as YYYY-MM-DD."
    if errors:
        raise ValidationError(errors)
    if parsed["end"] > now:
        raise ValidationError({"end": "The range cannot end in the future."})
    if parsed["start"] > parsed["end"]:
        raise ValidationError({"start": "The range must start on or before its end."})
    if (parsed["end"] - parsed["start"]).days + 1 > settings.FINOPS_MAX_SYNC_DAYS:
        raise ValidationError({"start": f"A sync covers at most {settings.FINOPS_MAX_SYNC_DAYS} days."})
    return parsed["start"], parsed["end"] + dt.timedelta(days=1)


def do_request_sync(
    connection: Connection, *, actor: Any, start: Any = None, end: Any = None, now: dt.date | None = None
) -> SyncJob:
    """Record a sync of `connection` (a backfill when `start`/`end` are given) and queue it on commit.

    A connection whose provider has no cost source gets a finished `unavailable` job: a status to show.
    The job is recorded in its own durable transaction and the task sent after it commits (in eager
    mode it has run when this returns: the job is returned as it ended).
    """
    job = _record_sync_request(connection, actor=actor, start=start, end=end, now=now)
    if job.status == SyncStatusChoices.QUEUED:
        # By name from the Celery app: the task module imports this one (its body is `run_sync_job`), so an
        # import here would make a cycle.
        send_on_commit(current_app.tasks[SYNC_TASK], job.pk)
        job.refresh_from_db()
    return job


@transaction.atomic(durable=True)
def _record_sync_request(connection: Connection, *, actor: Any, start: Any, end: Any, now: dt.date | None) -> SyncJob:
    check(actor, Action.SYNC_COSTS, connection)
    now = now or today()
    backfill = start is not None or end is not None
    if backfill:
        range_start, range_end = _backfill_range(start, end if end is not None else now, now)
    else:
        range_start, range_end = _incremental_range(connection, now)
    if connection.status == ConnectionStatusChoices.INACTIVE:
        raise ValidationError({"non_field_errors": f"'{connection.name}' is deactivated; activate it to sync costs."})
    reason = cost_sync_unavailable(connection)
    job = SyncJob.objects.create(
        org=connection.org,
        connection=connection,
        kind=SyncKindChoices.BACKFILL if backfill else SyncKindChoices.INCREMENTAL,
        status=SyncStatusChoices.UNAVAILABLE if reason else SyncStatusChoices.QUEUED,
        range_start=range_start,
        range_end=range_end,
        error=reason,
        requested_by=acting_user(actor),
        finished_at=timezone.now() if reason else None,
    )
    record_event(
        org=connection.org, action=AuditAction.FINOPS_SYNC_REQUESTED, actor=actor, target=connection,
        details={"job_id": job.pk, "kind": job.kind, "range_start": str(range_start),
                 "range_end": str(range_end), "status": job.status},
    )  # fmt: skip
    return job


class _SyncFailed(Exception):
    """A fetch failure whose message is already masked (raised inside `use_credentials`, which records it)."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


def _fetch(job: SyncJob) -> list[CostRow]:
    connection = job.connection
    source = connection.provider_spec.cost_source
    try:
        with use_credentials(
            connection, actor=SYSTEM, purpose="FinOps cost sync",
            resource=f"{job.range_start}..{job.range_end - dt.timedelta(days=1)}",
        ) as credentials:  # fmt: skip
            try:
                request = CostRequest(
                    auth_method=connection.auth_method,
                    config=credentials.config,
                    secrets=credentials.secrets,
                    ctx=build_context(connection),
                    start=job.range_start,
                    end=job.range_end,
                    tag_key=settings.FINOPS_ENVIRONMENT_TAG,
                    project_tag_key=settings.FINOPS_PROJECT_TAG,
                )
                return source.fetch(request)
            except CostFetchFailed as exc:
                raise _SyncFailed(masking.mask(exc.reason)[:1000], exc.transient) from None
            except Exception as exc:  # an SDK or parsing error: its text, masked while the secrets are registered
                text = masking.mask(f"{exc.__class__.__name__}: {exc}")[:1000]
                raise _SyncFailed(text, False) from None
    except _SyncFailed:
        raise
    except Exception as exc:  # selection, policy, destination binding: messages of our own, no secret
        raise _SyncFailed(masking.mask(str(exc))[:1000] or exc.__class__.__name__, False) from None


class _Attribution:
    """Environment of a row: the tag's environment among the authorized ones, else the only authorized one."""

    def __init__(self, connection: Connection) -> None:
        authorized = list(Environment.objects.filter(authorizations__connection=connection).order_by("slug"))
        self.by_key: dict[str, Environment] = {}
        for env in authorized:
            self.by_key.setdefault(env.slug.lower(), env)
            self.by_key.setdefault(env.name.strip().lower(), env)
        self.default = authorized[0] if len(authorized) == 1 else None

    def __call__(self, tag: str) -> Environment | None:
        if tag:
            found = self.by_key.get(tag.strip().lower())
            if found is not None:
                return found
        return self.default


def build_records(connection: Connection, rows: Iterable[CostRow]) -> list[CostRecord]:
    """CostRecords for provider rows: attributed, and merged when two rows share the unique key."""
    attribute = _Attribution(connection)
    provider_name = connection.provider_spec.cost_source.provider_name or connection.provider_spec.label
    merged: dict[tuple, CostRecord] = {}
    for row in rows:
        key = (row.day, row.service_name, row.resource_id, row.environment_tag, row.project_tag)
        existing = merged.get(key)
        if existing is not None:
            existing.billed_cost += row.billed_cost
            existing.effective_cost += row.effective_cost
            if row.list_cost is not None:
                existing.list_cost = (existing.list_cost or Decimal(0)) + row.list_cost
            continue
        env = attribute(row.environment_tag)
        merged[key] = CostRecord(
            org_id=connection.org_id,
            connection=connection,
            environment=env,
            provider=connection.provider,
            charge_period_start=row.day,
            charge_period_end=row.day + dt.timedelta(days=1),
            billing_period_start=month_start(row.day),
            billing_period_end=next_month(row.day),
            billed_cost=row.billed_cost,
            effective_cost=row.effective_cost,
            list_cost=row.list_cost,
            billing_currency=row.billing_currency or "USD",
            charge_category=row.charge_category,
            provider_name=provider_name,
            service_name=row.service_name,
            service_category=row.service_category,
            sub_account_id=row.sub_account_id,
            region_id=row.region_id,
            resource_id=row.resource_id,
            environment_tag=row.environment_tag,
            project_name=row.project_tag[:200],
            tags=dict(row.tags),
        )
    return list(merged.values())


#: Columns written by COPY on PostgreSQL (everything but the id), in the model's order.
_COPY_FIELDS = [f for f in CostRecord._meta.concrete_fields if not f.primary_key]


def replace_range(connection: Connection, start: dt.date, end: dt.date, records: list[CostRecord]) -> int:
    """Delete the connection's rows in [start, end) and insert `records`; call inside a transaction.

    On PostgreSQL the rows go in with `COPY ... FROM STDIN` (several times faster than INSERTs at a
    million rows, see bench/finops_ingest.py); elsewhere with batched INSERTs. Either way inside the
    caller's transaction, so the range is replaced whole or not at all.
    """
    records = [r for r in records if start <= r.charge_period_start < end]
    CostRecord.objects.filter(
        connection=connection, charge_period_start__gte=start, charge_period_start__lt=end
    ).delete()
    if db_connection.vendor == "postgresql" and records:
        _copy(records)
    else:
        CostRecord.objects.bulk_create(records, batch_size=2000)
    return len(records)


def _copy(records: list[CostRecord]) -> None:
    now = timezone.now()
    columns = ", ".join(f.column for f in _COPY_FIELDS)
    attnames = [f.attname for f in _COPY_FIELDS]
    tags = attnames.index("tags")
    with db_connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY {CostRecord._meta.db_table} ({columns}) FROM STDIN"
    ) as copy:
        for record in records:
            record.created_at = record.updated_at = now
            row = [getattr(record, name) for name in attnames]
            row[tags] = json.dumps(record.tags or {})
            copy.write_row(row)


def run_sync_job(job_id: int, *, final_attempt: bool = True) -> SyncJob | None:
    """Run one sync job (the task's body). Idempotent: a finished job is returned as it is.

    A transient failure that is not the final attempt leaves the job `retrying` (the task retries with
    backoff); otherwise the job is `failed` with the masked reason. Either way nothing stored changes.
    """
    job = SyncJob.objects.select_related("connection", "connection__org", "org").filter(pk=job_id).first()
    if job is None or job.status in FINISHED:
        return job
    SyncJob.objects.filter(pk=job.pk).update(
        status=SyncStatusChoices.RUNNING, attempts=job.attempts + 1, started_at=job.started_at or timezone.now(),
        updated_at=timezone.now(),
    )  # fmt: skip
    job.refresh_from_db()
    try:
        rows = _fetch(job)
        records = build_records(job.connection, rows)
        return _complete(job, records)
    except _SyncFailed as exc:
        return _fail(job, exc.message, retry=exc.transient and not final_attempt)
    except Exception as exc:  # the write itself failed (database): the transaction rolled back
        return _fail(job, masking.mask(f"{exc.__class__.__name__}: {exc}")[:1000], retry=not final_attempt)


@transaction.atomic(durable=True)
def _complete(job: SyncJob, records: list[CostRecord]) -> SyncJob:
    # Two syncs of one connection (the beat and a backfill) replace their ranges one after the other.
    Connection.objects.select_for_update().filter(pk=job.connection_id).values_list("pk", flat=True).first()
    written = replace_range(job.connection, job.range_start, job.range_end, records)
    job.status = SyncStatusChoices.SUCCEEDED
    job.rows_written = written
    job.error = ""
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "rows_written", "error", "finished_at", "updated_at"])
    record_event(
        org=job.org, action=AuditAction.FINOPS_SYNC_COMPLETED, actor=SYSTEM, target=job.connection,
        details={"job_id": job.pk, "rows_written": written, "range_start": str(job.range_start),
                 "range_end": str(job.range_end)},
    )  # fmt: skip
    return job


@transaction.atomic(durable=True)
def _fail(job: SyncJob, message: str, *, retry: bool) -> SyncJob:
    job.status = SyncStatusChoices.RETRYING if retry else SyncStatusChoices.FAILED
    job.error = message or "The sync failed."
    job.finished_at = None if retry else timezone.now()
    job.save(update_fields=["status", "error", "finished_at", "updated_at"])
    if not retry:
        record_event(
            org=job.org, action=AuditAction.FINOPS_SYNC_FAILED, actor=SYSTEM, target=job.connection,
            details={"job_id": job.pk, "error": job.error, "attempts": job.attempts},
        )
    return job


def syncable_connections() -> QuerySet:
    """Active connections whose provider has a cost source (what the daily beat syncs)."""
    # late import: the registry is pure Python; importing it here keeps this module's header about models
    from connections.providers import REGISTRY

    codes = [code for code, spec in REGISTRY.items() if spec.cost_source is not None]
    return Connection.objects.filter(provider__in=codes).exclude(status=ConnectionStatusChoices.INACTIVE)


# --------------------------------------------------------------------------------------------------
# Alerts through the existing path (banner, e-mail, webhook)
# --------------------------------------------------------------------------------------------------


def _notify(org: Organization, *, level: str, title: str, message: str, url: str, target: Any) -> Notification:
    note = Notification.objects.create(
        org=org, level=level, title=title[:200], message=message[:1000], url=url,
        target_type=target._meta.label_lower, target_id=str(target.pk),
    )  # fmt: skip
    transaction.on_commit(lambda: deliver_alert(note.pk))
    return note


def budget_status(budget: Budget, *, on: dt.date | None = None) -> BudgetStatus:
    """One budget's month-to-date billed cost and month-end forecast (see `reports.forecast`)."""
    return budget_statuses(budget.org, on=on or today(), budgets=[budget])[0]


def evaluate_budgets(org: Organization, *, on: dt.date | None = None) -> list[BudgetAlert]:
    """Raise an alert for each threshold newly crossed this month (actual, forecast); returns the new ones."""
    on = on or today()
    raised = []
    for status in budget_statuses(org, on=on):
        budget = status.budget
        for threshold in sorted(set(budget.thresholds)):
            limit = budget.amount * Decimal(threshold) / 100
            for kind, value in ((AlertKindChoices.ACTUAL, status.actual), (AlertKindChoices.FORECAST, status.forecast)):
                if value >= limit and (alert := _budget_alert(budget, status.month, threshold, kind, value)):
                    raised.append(alert)
    return raised


@transaction.atomic
def _budget_alert(budget: Budget, month: dt.date, threshold: int, kind: str, value: Decimal) -> BudgetAlert | None:
    alert, created = BudgetAlert.objects.get_or_create(
        budget=budget, month=month, threshold=threshold, kind=kind, defaults={"org": budget.org, "amount": value}
    )
    if not created:
        return None
    what = "has reached" if kind == AlertKindChoices.ACTUAL else "is forecast to reach"
    title = f"Budget '{budget.name}' {what} {threshold}%"
    message = (
        f"{kind.capitalize()} spend for {month:%B %Y}: {value:.2f} {budget.currency} "
        f"of {budget.amount:.2f} {budget.currency}."
    )
    full = threshold >= 100 and kind == AlertKindChoices.ACTUAL
    level = Notification.Level.ERROR if full else Notification.Level.WARNING
    note = _notify(budget.org, level=level, title=title, message=message, url=f"/o/{budget.org.slug}/costs/",
                   target=budget)  # fmt: skip
    alert.notification = note
    alert.save(update_fields=["notification", "updated_at"])
    record_event(
        org=budget.org, action=AuditAction.FINOPS_BUDGET_ALERT, actor=SYSTEM, target=budget,
        details={"month": str(month), "threshold": threshold, "kind": kind, "amount": str(value),
                 "notification_id": note.pk},
    )  # fmt: skip
    return alert


def evaluate_anomalies(connection: Connection, days: Iterable[dt.date]) -> list[CostAnomaly]:
    """Flag each (service, day) whose cost exceeds mean + K·stdev of the trailing baseline and the minimum.

    Days without a full baseline of synced data are skipped (a first sync is not a spike). One alert per
    anomaly: the `CostAnomaly` row is unique per connection, service and day.
    """
    days = sorted(set(days))
    if not days:
        return []
    n = settings.FINOPS_ANOMALY_BASELINE_DAYS
    k = Decimal(str(settings.FINOPS_ANOMALY_STDDEVS))
    minimum = Decimal(str(settings.FINOPS_ANOMALY_MIN_COST))
    records = CostRecord.objects.filter(connection=connection)
    first = records.order_by("charge_period_start").values_list("charge_period_start", flat=True).first()
    if first is None:
        return []
    window = records.filter(
        charge_period_start__gte=days[0] - dt.timedelta(days=n), charge_period_start__lte=days[-1]
    ).values("service_name", "charge_period_start", "billing_currency").annotate(cost=Sum("billed_cost")).order_by()
    series: dict[str, dict[dt.date, Decimal]] = defaultdict(dict)
    currency: dict[str, str] = {}
    for row in window:
        series[row["service_name"]][row["charge_period_start"]] = row["cost"]
        currency[row["service_name"]] = row["billing_currency"]
    raised = []
    for day in days:
        if (day - first).days < n:
            continue
        for service, values in sorted(series.items()):
            cost = values.get(day, Decimal(0))
            if cost < minimum:
                continue
            baseline = [values.get(day - dt.timedelta(days=i), Decimal(0)) for i in range(1, n + 1)]
            mean = sum(baseline, Decimal(0)) / n
            stdev = statistics.pstdev(baseline)
            if cost > mean + k * stdev:
                anomaly = _anomaly(connection, service, day, cost, mean, stdev, currency[service])
                if anomaly is not None:
                    raised.append(anomaly)
    return raised


@transaction.atomic
def _anomaly(
    connection: Connection, service: str, day: dt.date, cost: Decimal, mean: Decimal, stdev: Decimal, currency: str
) -> CostAnomaly | None:
    anomaly, created = CostAnomaly.objects.get_or_create(
        connection=connection, service_name=service, day=day,
        defaults={"org_id": connection.org_id, "cost": cost, "baseline_mean": mean.quantize(Decimal("0.0000000001")),
                  "baseline_stdev": Decimal(stdev).quantize(Decimal("0.0000000001")), "currency": currency},
    )  # fmt: skip
    if not created:
        return None
    title = f"Cost anomaly: {service} on '{connection.name}'"
    message = f"{day}: {cost:.2f} {currency}, against a {settings.FINOPS_ANOMALY_BASELINE_DAYS}-day mean of {mean:.2f}."
    note = _notify(connection.org, level=Notification.Level.WARNING, title=title, message=message,
                   url=f"/o/{connection.org.slug}/costs/", target=anomaly)  # fmt: skip
    anomaly.notification = note
    anomaly.save(update_fields=["notification", "updated_at"])
    record_event(
        org=connection.org, action=AuditAction.FINOPS_ANOMALY_ALERT, actor=SYSTEM, target=connection,
        details={"service": service, "day": str(day), "cost": str(cost), "notification_id": note.pk},
    )
    return anomaly


def evaluate_after_sync(job: SyncJob, *, on: dt.date | None = None) -> None:
    """Budgets of the organization and anomalies on the synced connection's last days."""
    on = on or today()
    evaluate_budgets(job.org, on=on)
    last = min(job.range_end, on + dt.timedelta(days=1))
    first = max(job.range_start, last - dt.timedelta(days=ANOMALY_LOOKBACK_DAYS))
    evaluate_anomalies(job.connection, [first + dt.timedelta(days=i) for i in range((last - first).days)])


# --------------------------------------------------------------------------------------------------
# Budgets
# --------------------------------------------------------------------------------------------------


def _clean_budget(org: Organization, data: dict[str, Any], instance: Budget | None = None) -> dict[str, Any]:
    """Field-level validation shared by pages and the API (they both call the services)."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    name = str(data.get("name", instance.name if instance else "") or "").strip()
    if not name:
        errors["name"] = "This field is required."
    elif len(name) > 100:
        errors["name"] = "Use at most 100 characters."
    elif Budget.objects.filter(org=org, name=name).exclude(pk=instance.pk if instance else None).exists():
        errors["name"] = "A budget with this name already exists."
    cleaned["name"] = name
    scope = data.get("scope", instance.scope if instance else BudgetScopeChoices.ORGANIZATION)
    if scope not in BudgetScopeChoices.values:
        errors["scope"] = f"Choose one of: {', '.join(BudgetScopeChoices.values)}."
    cleaned["scope"] = scope
    env = data.get("environment", instance.environment if instance else None)
    conn = data.get("connection", instance.connection if instance else None)
    cleaned["environment"] = cleaned["connection"] = None
    if scope == BudgetScopeChoices.ENVIRONMENT:
        if isinstance(env, str):
            env = Environment.objects.filter(org=org, slug=env).first()
        if not isinstance(env, Environment) or env.org_id != org.pk:
            errors["environment"] = "Choose an environment of this organization."
        cleaned["environment"] = env
    if scope == BudgetScopeChoices.CONNECTION:
        if isinstance(conn, str):
            conn = Connection.objects.filter(org=org, name=conn).first()
        if not isinstance(conn, Connection) or conn.org_id != org.pk:
            errors["connection"] = "Choose a connection of this organization."
        cleaned["connection"] = conn
    amount = data.get("amount", instance.amount if instance else None)
    try:
        cleaned["amount"] = Decimal(str(amount)).quantize(Decimal("0.01"))
        if not cleaned["amount"].is_finite() or cleaned["amount"] <= 0 or cleaned["amount"] >= Decimal("1e17"):
            errors["amount"] = "Enter a positive amount."
    except Exception:
        errors["amount"] = "Enter a positive amount."
    currency = str(data.get("currency", instance.currency if instance else "USD") or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        errors["currency"] = "Enter a three-letter currency code (e.g. USD)."
    cleaned["currency"] = currency
    thresholds = data.get("thresholds", instance.thresholds if instance else [50, 80, 100])
    if isinstance(thresholds, str):
        thresholds = [t.strip() for t in thresholds.split(",") if t.strip()]
    try:
        values = sorted({int(t) for t in thresholds})
        if not values or len(values) > 10 or any(t < 1 or t > 1000 for t in values):
            raise ValueError
        cleaned["thresholds"] = values
    except (TypeError, ValueError):
        errors["thresholds"] = "Enter 1 to 10 whole percentages between 1 and 1000."
    if errors:
        raise ValidationError(errors)
    return cleaned


def _budget_details(budget: Budget) -> dict[str, Any]:
    return {"name": budget.name, "scope": budget.scope, "amount": str(budget.amount), "currency": budget.currency,
            "thresholds": budget.thresholds, "environment": budget.environment.slug if budget.environment else None,
            "connection": budget.connection.name if budget.connection else None}  # fmt: skip


@transaction.atomic(durable=True)
def do_create_budget(org: Organization, *, actor: Any, **data: Any) -> Budget:
    check(actor, Action.MANAGE_BUDGETS, org)
    budget = Budget.objects.create(org=org, **_clean_budget(org, data))
    record_event(org=org, action=AuditAction.FINOPS_BUDGET_CREATED, actor=actor, target=budget,
                 details=_budget_details(budget))  # fmt: skip
    return budget


@transaction.atomic(durable=True)
def do_update_budget(budget: Budget, *, actor: Any, **data: Any) -> Budget:
    check(actor, Action.MANAGE_BUDGETS, budget)
    budget = Budget.objects.select_for_update().select_related("org").get(pk=budget.pk)
    for name, value in _clean_budget(budget.org, data, budget).items():
        setattr(budget, name, value)
    budget.save()
    record_event(org=budget.org, action=AuditAction.FINOPS_BUDGET_UPDATED, actor=actor, target=budget,
                 details=_budget_details(budget))  # fmt: skip
    return budget


@transaction.atomic(durable=True)
def do_delete_budget(budget: Budget, *, actor: Any) -> None:
    check(actor, Action.MANAGE_BUDGETS, budget)
    record_event(org=budget.org, action=AuditAction.FINOPS_BUDGET_DELETED, actor=actor, target=budget,
                 details=_budget_details(budget))  # fmt: skip
    budget.delete()


