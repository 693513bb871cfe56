"""The fake Entra ID + ARM (`FakeAzure`) plus Azure Cost Management's query API, over TLS.

`costs` holds the answer's rows, `[cost, usage_date (yyyymmdd int), service, tag key, tag value, currency]`;
the fake pages them (`page_size`, `nextLink`), checks the bearer token and the subscription, and keeps
every query body in `queries` for the test to read (granularity, time period, grouping).
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.azure_arm import FakeAzure
from tests.fakes.http import RecordedRequest, Reply, Route, json_reply

__all__ = ["FakeAzureCosts"]

COLUMNS = [
    {"name": "Cost", "type": "Number"},
    {"name": "UsageDate", "type": "Number"},
    {"name": "ServiceName", "type": "String"},
    {"name": "TagKey", "type": "String"},
    {"name": "TagValue", "type": "String"},
    {"name": "Currency", "type": "String"},
]


class FakeAzureCosts(FakeAzure):
    service = "azure-costs"

    def __init__(self, *, cost_page_size: int = 1000, **kwargs: Any) -> None:
        self.costs: list[list[Any]] = []
        self.queries: list[dict[str, Any]] = []
        self.cost_page_size = cost_page_size
        self.fail_with: int | None = None
        super().__init__(**kwargs)

    def routes(self):
        query = r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.CostManagement/query"
        return (*super().routes(), Route("POST", query, self._query))

    def _query(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if not self._authorized(request):
            return self._error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if match["sub"] != self.subscription_id:
            return self._error(404, "SubscriptionNotFound", f"The subscription '{match['sub']}' could not be found.")
        if self.fail_with:
            return self._error(self.fail_with, "TooManyRequests", "Too many requests. Please retry.")
        self.queries.append(request.json())
        start = int((request.query.get("$skiptoken") or ["0"])[0])
        rows = self.costs[start : start + self.cost_page_size]
        properties: dict[str, Any] = {"columns": COLUMNS, "rows": rows, "nextLink": None}
        if start + self.cost_page_size < len(self.costs):
            properties["nextLink"] = (
                f"{self.url}{request.path}?api-version={request.query['api-version'][0]}"
                f"&$skiptoken={start + self.cost_page_size}"
            )
        return json_reply(200, {"id": "query", "name": "query", "type": "Microsoft.CostManagement/query",
                                "properties": properties})  # fmt: skip
