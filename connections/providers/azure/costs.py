"""Azure cost source: the Cost Management query API (`Microsoft.CostManagement/query`) on the subscription.

One `ActualCost` query per range, daily, grouped by ServiceName and by the environment tag (`TagKey`
grouping), with a token of the connection's service principal from azure-identity (client secret or
the platform's federated assertion). ActualCost is what the invoice bills (FOCUS BilledCost); the
platform stores it as EffectiveCost too (the amortized view is a second query, not made today). The
answer is a table (`columns` + `rows`), paged with `nextLink`; `UsageDate` is a number like 20261101.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import AzureError, ClientAuthenticationError

from core.masking import scrub
from core.netguard import NetguardError

from ..costs import CostFetchFailed, CostRequest, CostRow, CostSource, decimal_amount, service_category
from .common import ca_file
from .roles import _management_token

API_VERSION = "2023-11-01"
MAX_PAGES = 200
MAX_BYTES = 32 * 1024 * 1024


class AzureCostSource(CostSource):
    provider_name = "Microsoft"

    def fetch(self, request: CostRequest) -> list[CostRow]:
        config, secrets, ctx = request.config, request.secrets, request.ctx
        try:
            token = _management_token(request.auth_method, dict(config), dict(secrets), ctx.sign_assertion)
        except ClientAuthenticationError as exc:
            raise CostFetchFailed(scrub(f"Microsoft Entra ID refused the token: {exc.message}", secrets)) from None
        except AzureError as exc:
            raise CostFetchFailed(scrub(f"Could not reach Microsoft Entra ID: {exc.message}", secrets),
                                  transient=True) from None  # fmt: skip
        subscription = str(config["subscription_id"])
        url = (
            f"{ctx.endpoint('azure_management')}/subscriptions/{quote(subscription, safe='')}"
            f"/providers/Microsoft.CostManagement/query?api-version={API_VERSION}"
        )
        body = json.dumps({
            "type": "ActualCost",
            "timeframe": "Custom",
            "timePeriod": {"from": f"{request.start.isoformat()}T00:00:00Z",
                           "to": f"{(request.end - dt.timedelta(days=1)).isoformat()}T23:59:59Z"},
            "dataset": {
                "granularity": "Daily",
                "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
                "grouping": [{"type": "Dimension", "name": "ServiceName"},
                             {"type": "TagKey", "name": request.tag_key}],
            },
        }).encode()  # fmt: skip
        ca = ca_file()
        ca_data = Path(ca).read_text() if ca else None
        rows: list[CostRow] = []
        for _page in range(MAX_PAGES):
            page = _post(ctx, url, body, token, ca_data)
            properties = page.get("properties") or {}
            rows.extend(_rows(properties, subscription, request.tag_key))
            url = properties.get("nextLink") or ""
            if not url:
                return rows
        raise CostFetchFailed(f"Cost Management returned more than {MAX_PAGES} pages for one range; sync less.")


def _post(ctx: Any, url: str, body: bytes, token: str, ca_data: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"}
    try:
        response = ctx.request("POST", url, headers=headers, body=body, ca_data=ca_data, max_bytes=MAX_BYTES)
    except NetguardError as exc:
        raise CostFetchFailed(scrub(f"Could not reach Azure Cost Management: {exc}", token), transient=True) from None
    if response.status != 200:
        try:
            message = str((response.json().get("error") or {}).get("message") or "")
        except Exception:  # a proxy's HTML page: the status is all there is to say
            message = ""
        reason = scrub(f"Azure Cost Management answered {response.status}: {message or 'no message'}", token)
        raise CostFetchFailed(reason, transient=response.status == 429 or response.status >= 500)
    try:
        data = response.json()
    except ValueError:
        raise CostFetchFailed("Azure Cost Management answered with something that is not JSON.") from None
    return data if isinstance(data, dict) else {}


def _rows(properties: dict[str, Any], subscription: str, tag_key: str) -> list[CostRow]:
    names = [str(c.get("name") or "") for c in properties.get("columns") or []]
    index = {name.lower(): i for i, name in enumerate(names)}
    missing = [n for n in ("cost", "usagedate", "servicename") if n not in index]
    if missing:
        raise CostFetchFailed(f"Azure Cost Management's answer lacks the column(s) {', '.join(missing)}.")
    rows = []
    for raw in properties.get("rows") or []:
        def col(name: str, raw: list[Any] = raw) -> Any:
            i = index.get(name)
            return raw[i] if i is not None and i < len(raw) else None

        day_value = str(col("usagedate") or "")[:8]
        try:
            day = dt.date(int(day_value[:4]), int(day_value[4:6]), int(day_value[6:8]))
        except ValueError:
            raise CostFetchFailed(f"Azure Cost Management returned a day that is not a date: {day_value!r}.") from None
        service = str(col("servicename") or "Unknown")[:200]
        tag_value = str(col("tagvalue") or "") if str(col("tagkey") or "").lower() == tag_key.lower() else ""
        amount = decimal_amount(col("cost"))
        rows.append(CostRow(
            day=day, service_name=service, service_category=service_category(service), billed_cost=amount,
            effective_cost=amount, billing_currency=str(col("currency") or "USD")[:3], sub_account_id=subscription,
            environment_tag=tag_value[:200], tags={tag_key: tag_value} if tag_value else {},
        ))  # fmt: skip
    return rows
