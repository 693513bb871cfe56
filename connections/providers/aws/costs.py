"""AWS cost source: Cost Explorer `GetCostAndUsage`, daily, grouped by service and by the environment tag.

Cost Explorer answers per day and group with UnblendedCost (what the invoice bills: FOCUS BilledCost)
and AmortizedCost (commitments spread over their term: FOCUS EffectiveCost). The tag group key comes
back as `<tag key>$<value>` (an empty value when the cost is untagged). Cost Explorer is a global
service served from us-east-1 whatever the connection's region.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core.masking import scrub

from ..contract import CheckFailed
from ..costs import CostFetchFailed, CostRequest, CostRow, CostSource, decimal_amount, service_category
from . import clients
from .provider import session_credentials

CE_REGION = "us-east-1"
#: A range is read in at most this many pages (Cost Explorer pages large daily groupings).
MAX_PAGES = 200
_TRANSIENT_CODES = frozenset({"ThrottlingException", "LimitExceededException", "ServiceUnavailable",
                              "InternalServerError", "RequestLimitExceeded"})  # fmt: skip


class AwsCostSource(CostSource):
    provider_name = "AWS"

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
        rows: list[CostRow] = []
        kwargs: dict[str, Any] = {
            "TimePeriod": {"Start": request.start.isoformat(), "End": request.end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost", "AmortizedCost"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": request.tag_key}],
        }
        for _page in range(MAX_PAGES):
            response = _call(ce.get_cost_and_usage, credentials, **kwargs)
            for period in response.get("ResultsByTime", []):
                rows.extend(_rows(period, account, request.tag_key))
            token = response.get("NextPageToken")
            if not token:
                return rows
            kwargs["NextPageToken"] = token
        raise CostFetchFailed(f"Cost Explorer returned more than {MAX_PAGES} pages for one range; sync a shorter one.")


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


def _rows(period: dict[str, Any], account: str, tag_key: str) -> list[CostRow]:
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
