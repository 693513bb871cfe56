"""Usage analytics (seed 000: "which resources use which connections, deployment frequency, error
patterns"): per organization, per connection or per environment, from runs and ConnectionUsage rows.

Everything is computed with a handful of aggregate queries (constant in the number of runs) and
returned as plain data: pages render it as tables and server-side SVG bars (no JavaScript, no CDN),
the API returns the same dictionary as JSON.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Environment, Organization
from accounts.policy import Action, check
from connections.choices import UsageOutcomeChoices
from connections.models import Connection, ConnectionUsage

from .choices import RunKind, RunStatus
from .models import TerraformRun

_NORMALIZE = [
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),
    (re.compile(r"\b[0-9a-f]{8,}\b", re.I), "<id>"),
    (re.compile(r"\d+"), "<n>"),
]


class NotFound(Exception):
    pass


@dataclass
class Usage:
    scope: str
    days: int
    per_day: list[dict[str, Any]] = field(default_factory=list)
    total_runs: int = 0
    failed_runs: int = 0
    error_rate: float = 0.0
    deployments: int = 0
    deployments_per_week: float = 0.0
    last_use: Any = None
    top_errors: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)


def pattern(message: str) -> str:
    """Group error messages that differ only by names, numbers and ids."""
    text = (message or "").strip().splitlines()[0] if message else ""
    for regex, replacement in _NORMALIZE:
        text = regex.sub(replacement, text)
    return text[:200]


def usage(
    org: Organization, *, actor: Any, connection: str | None = None, environment: str | None = None, days: Any = 30
) -> Usage:
    check(actor, Action.VIEW, org)
    try:
        window = min(365, max(1, int(days)))
    except (TypeError, ValueError):
        window = 30
    since = timezone.now() - timedelta(days=window)
    runs = TerraformRun.objects.filter(org=org, created_at__gte=since)
    uses = ConnectionUsage.objects.filter(org=org, created_at__gte=since)
    scope = f"organization {org.slug}"
    if connection:
        conn = Connection.objects.filter(org=org, name=connection).first()
        if conn is None:
            raise NotFound(f"No connection '{connection}'.")
        runs, uses, scope = runs.filter(connection=conn), uses.filter(connection=conn), f"connection {conn.name}"
    if environment:
        if not Environment.objects.filter(org=org, slug=environment).exists():
            raise NotFound(f"No environment '{environment}'.")
        runs, uses = runs.filter(environment=environment), uses.filter(environment=environment)
        scope = f"{scope}, environment {environment}"
    result = Usage(scope=scope, days=window)
    rows = {
        row["day"]: row
        for row in runs.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            total=Count("id"),
            failed=Count("id", filter=Q(status__in=[RunStatus.FAILED, RunStatus.BLOCKED])),
            deployments=Count("id", filter=Q(kind__in=[RunKind.APPLY, RunKind.DESTROY], status=RunStatus.SUCCEEDED)),
        )
        .order_by()
    }
    today = timezone.now().date()
    for offset in range(window - 1, -1, -1):
        day: date = today - timedelta(days=offset)
        row = rows.get(day, {})
        result.per_day.append(
            {"day": day, "runs": row.get("total", 0), "failed": row.get("failed", 0),
             "deployments": row.get("deployments", 0)}
        )  # fmt: skip
    result.total_runs = sum(d["runs"] for d in result.per_day)
    result.failed_runs = sum(d["failed"] for d in result.per_day)
    result.deployments = sum(d["deployments"] for d in result.per_day)
    result.error_rate = round(result.failed_runs / result.total_runs, 4) if result.total_runs else 0.0
    result.deployments_per_week = round(result.deployments / (window / 7), 2)
    result.last_use = uses.aggregate(last=Max("created_at"))["last"]
    errors: Counter[str] = Counter()
    examples: dict[str, str] = {}
    reasons = runs.filter(status__in=[RunStatus.FAILED, RunStatus.BLOCKED]).values_list("reason", flat=True)[:2000]
    usage_errors = uses.filter(outcome=UsageOutcomeChoices.FAILURE).exclude(purpose="terraform-run")
    for message in [*reasons, *usage_errors.values_list("error", flat=True)[:2000]]:
        key = pattern(message)
        if key:
            errors[key] += 1
            examples.setdefault(key, message[:300])
    result.top_errors = [
        {"pattern": key, "count": count, "example": examples[key]} for key, count in errors.most_common(5)
    ]
    # Which projects and resources use which connection: each project's last successful apply/destroy.
    latest = runs.model.objects.filter(
        org=org, status=RunStatus.SUCCEEDED, kind__in=[RunKind.APPLY, RunKind.DESTROY]
    ).filter(pk__in=runs.model.objects.filter(org=org).values("project").annotate(last=Max("id")).values("last"))
    if connection:
        latest = latest.filter(connection__name=connection)
    if environment:
        latest = latest.filter(environment=environment)
    for run in latest.select_related("project", "connection").order_by("connection__name", "project__name")[:200]:
        result.resources.append(
            {"connection": run.connection.name if run.connection else "", "project": run.project.name,
             "environment": run.environment, "resources": run.resources, "applied_at": run.finished_at}
        )  # fmt: skip
    return result


def as_json(data: Usage) -> dict[str, Any]:
    return {
        "scope": data.scope,
        "days": data.days,
        "total_runs": data.total_runs,
        "failed_runs": data.failed_runs,
        "error_rate": data.error_rate,
        "deployments": data.deployments,
        "deployments_per_week": data.deployments_per_week,
        "last_use": data.last_use.isoformat() if data.last_use else None,
        "per_day": [{**d, "day": d["day"].isoformat()} for d in data.per_day],
        "top_errors": data.top_errors,
        "resources": [
            {**r, "applied_at": r["applied_at"].isoformat() if r["applied_at"] else None} for r in data.resources
        ],
    }


def bars(per_day: list[dict[str, Any]], key: str, *, width: int = 600, height: int = 120) -> dict[str, Any]:
    """Geometry of an SVG bar chart, computed here so the template needs no arithmetic and no script."""
    peak = max([d[key] for d in per_day] + [1])
    step = width / max(len(per_day), 1)
    out = []
    for index, day in enumerate(per_day):
        h = round(day[key] / peak * (height - 20), 1)
        out.append({"x": round(index * step + 1, 1), "y": round(height - h, 1), "w": round(max(step - 2, 1), 1),
                    "h": h, "label": f"{day['day']:%Y-%m-%d}: {day[key]}"})  # fmt: skip
    return {"width": width, "height": height, "bars": out, "peak": peak}
