"""AWS cost source: Cost Explorer `GetCostAndUsage`, daily, by service and the environment and project tags.

Cost Explorer answers per day and group with UnblendedCost (what the invoice bills: FOCUS BilledCost)
and AmortizedCost (commitments spread over their term: FOCUS EffectiveCost). The tag group key comes
back as `<tag key>$<value>` (an empty value when the cost is untagged). Cost Explorer is a global
service served from us-east-1 whatever the connection's region.

Project attribution (`project_tag_key`): Cost Explorer groups by two keys at most, so the bill is read
in three queries that partition it without double counting: costs WITHOUT the project tag by service and
environment tag (as before); costs WITH it by service and project tag; and the latter by project and
environment tag, which gives each project's environment per day (the one with the larger cost when a
project's resources were tagged with two: the platform's runs tag one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core.masking import scrub

from ..contract import CheckFailed
from ..costs import (
    CostFetchFailed,
    CostRequest,
    CostRow,
    CostSource,
    DemoAccount,
    decimal_amount,
    service_category,
)
from . import clients
from .provider import session_credentials

CE_REGION = "us-east-1"
#: A range is read in at most this many pages (Cost Explorer pages large daily groupings).
MAX_PAGES = 200
_TRANSIENT_CODES = frozenset({"ThrottlingException", "LimitExceededException", "ServiceUnavailable",
                              "InternalServerError", "RequestLimitExceeded"})  # fmt: skip


class AwsCostSource(CostSource):
    provider_name = "AWS"
    # AWS's documented example keys: the demo connection can never reach a real account.
    demo = DemoAccount(
        auth_method="access_key",
        config={"account_id": "123456789012", "region": "eu-west-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE"},
        secrets={"secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
        sub_account_id="123456789012",
        region_id="eu-west-1",
        services=(
            ("Amazon Elastic Compute Cloud - Compute", Decimal("42.00"), Decimal("0.35")),
            ("Amazon Relational Database Service", Decimal("18.50"), Decimal("0.25")),
            ("Amazon Simple Storage Service", Decimal("6.20"), Decimal("0.40")),
            ("Amazon CloudFront", Decimal("3.10"), Decimal("0.10")),
            ("AWS Lambda", Decimal("1.40"), Decimal("0.60")),
        ),
    )

    def fetch(self, request: CostRequest) -> list[CostRow]:
        try:
            credentials, arn = session_credentials(
                request.auth_method, request.config, request.secrets, request.ctx, external_id=request.ctx.external_id
            )
        except CheckFailed as exc:
            # STS unreachable ("Could not complete the ... call") is worth a retry; a refusal is not.
            network = not exc.details.get("aws_error_code") and exc.reason.startswith("Could not")
            raise CostFetchFailed(exc.reason, transient=network) from None
        account = arn.split(":")[4] if arn.count(":") >= 4 else str(request.config.get("account_id") or "")
        ce = clients.session_client("ce", region=CE_REGION, credentials=credentials, timeout=request.ctx.timeout)
        env_key, project_key = request.tag_key, request.project_tag_key
        if not project_key or project_key == env_key:
            return _rows(_query(ce, credentials, request, [env_key]), account, env_key)
        absent = {"Tags": {"Key": project_key, "MatchOptions": ["ABSENT"]}}
        # Costs without the project tag: by service and environment tag, as without project attribution.
        rows = _rows(_query(ce, credentials, request, [env_key], absent), account, env_key)
        # Project-tagged costs: by service and project tag, then each project's environment tag per day
        # (Cost Explorer groups by two keys at most, so a third query joins the environment back).
        tagged = {"Not": absent}
        by_project = _query(ce, credentials, request, [project_key], tagged)
        environments = _project_environments(_query(ce, credentials, request, [project_key, env_key], tagged))
        for row in _rows(by_project, account, project_key):
            project = row.tags.get(project_key, "")
            env = environments.get((row.day, project), "")
            tags = {project_key: project, **({env_key: env} if env else {})}
            rows.append(replace(row, environment_tag=env[:200], project_tag=project[:200], tags=tags))
        return rows


def _query(
    ce: Any, credentials: dict[str, str], request: CostRequest, tag_keys: list[str], flt: dict | None = None
) -> list[dict[str, Any]]:
    """Every ResultsByTime period of one grouping (SERVICE + one tag, or two tags), all pages."""
    group_by = [{"Type": "TAG", "Key": key} for key in tag_keys]
    if len(group_by) == 1:
        group_by.insert(0, {"Type": "DIMENSION", "Key": "SERVICE"})
    kwargs: dict[str, Any] = {
        "TimePeriod": {"Start": request.start.isoformat(), "End": request.end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost", "AmortizedCost"],
        "GroupBy": group_by,
    }
    if flt:
        kwargs["Filter"] = flt
    periods: list[dict[str, Any]] = []
    for _page in range(MAX_PAGES):
        response = _call(ce.get_cost_and_usage, credentials, **kwargs)
        periods.extend(response.get("ResultsByTime", []))
        token = response.get("NextPageToken")
        if not token:
            return periods
        kwargs["NextPageToken"] = token
    raise CostFetchFailed(f"Cost Explorer returned more than {MAX_PAGES} pages for one range; sync a shorter one.")


def _tag_value(key: str) -> str:
    return key.split("$", 1)[1] if "$" in key else ""


def _project_environments(periods: list[dict[str, Any]]) -> dict[tuple[dt.date, str], str]:
    """`(day, project) -> environment tag value`: the environment with the larger cost of that project's day
    (a project lives in one environment, so there is normally one)."""
    best: dict[tuple[dt.date, str], tuple[Any, str]] = {}
    for period in periods:
        day = dt.date.fromisoformat(str(period["TimePeriod"]["Start"])[:10])
        for group in period.get("Groups", []):
            keys = [str(k) for k in group.get("Keys", [])]
            if len(keys) < 2:
                continue
            project, env = _tag_value(keys[0]), _tag_value(keys[1])
            amount = decimal_amount(((group.get("Metrics") or {}).get("UnblendedCost") or {}).get("Amount"))
            if project and env and ((day, project) not in best or amount > best[(day, project)][0]):
                best[(day, project)] = (amount, env)
    return {key: env for key, (_amount, env) in best.items()}


def _call(call: Any, credentials: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    try:
        return call(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code") or ""), str(error.get("Message") or "")
        reason = scrub(f"Cost Explorer: {code}: {message}".rstrip(": "), credentials)
        raise CostFetchFailed(reason, transient=code in _TRANSIENT_CODES) from None
    except BotoCoreError as exc:
        raise CostFetchFailed(scrub(f"Could not reach Cost Explorer: {exc}", credentials), transient=True) from None


def _rows(periods: list[dict[str, Any]], account: str, tag_key: str) -> list[CostRow]:
    return [row for period in periods for row in _period_rows(period, account, tag_key)]


def _period_rows(period: dict[str, Any], account: str, tag_key: str) -> list[CostRow]:
    day = dt.date.fromisoformat(str(period["TimePeriod"]["Start"])[:10])
    rows = []
    for group in period.get("Groups", []):
        keys = [str(k) for k in group.get("Keys", [])]
        service = keys[0] if keys else "Unknown"
        tag_value = ""
        if len(keys) > 1 and "$" in keys[1]:
            tag_value = keys[1].split("$", 1)[1]
        metrics = group.get("Metrics", {})
        billed = metrics.get("UnblendedCost") or {}
        effective = metrics.get("AmortizedCost") or billed
        rows.append(
            CostRow(
                day=day,
                service_name=service[:200],
                service_category=service_category(service),
                billed_cost=decimal_amount(billed.get("Amount")),
                effective_cost=decimal_amount(effective.get("Amount")),
                billing_currency=str(billed.get("Unit") or "USD")[:3],
                sub_account_id=account,
                environment_tag=tag_value[:200],
                tags={tag_key: tag_value} if tag_value else {},
            )
        )
    return rows
