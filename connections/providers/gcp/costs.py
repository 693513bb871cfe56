"""GCP cost source: the Cloud Billing export in BigQuery, read with `jobs.query` over the REST API.

The connection's `billing_export_table` (or the platform's `FINOPS_GCP_BILLING_TABLE`) names the
standard usage cost export (`project.dataset.gcp_billing_export_v1_...`). One query per range sums
cost per day, service, environment label and currency, for the connection's project: `cost` is what is
billed (FOCUS BilledCost); cost plus credits (negative amounts) is EffectiveCost. The table name is
validated (it is quoted into the SQL); every value is a named query parameter. The token comes from
the connection's own credentials (service account key through google-auth, or workload identity).
Results page with `pageToken` through `getQueryResults`, which also waits for a slow job.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote, urlencode

from core.masking import scrub

from ..config import setting
from ..contract import CheckFailed
from ..costs import CostFetchFailed, CostRequest, CostRow, CostSource, decimal_amount, service_category
from ..errors import FieldError
from .provider import access_token, bigquery_table, google_error, google_request

MAX_PAGES = 200
MAX_BYTES = 32 * 1024 * 1024
QUERY = """
SELECT DATE(usage_start_time) AS day, service.description AS service,
  IFNULL((SELECT l.value FROM UNNEST(labels) AS l WHERE l.key = @tag_key LIMIT 1), '') AS environment,
  currency, SUM(cost) AS billed,
  SUM(cost) + SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0)) AS effective
FROM `{table}`
WHERE project.id = @project AND DATE(usage_start_time) >= @start AND DATE(usage_start_time) < @end
GROUP BY day, service, environment, currency
ORDER BY day, service, environment
"""


class GcpCostSource(CostSource):
    provider_name = "Google Cloud"

    def fetch(self, request: CostRequest) -> list[CostRow]:
        config, ctx = request.config, request.ctx
        table = str(config.get("billing_export_table") or setting("FINOPS_GCP_BILLING_TABLE") or "")
        if not table:
            raise CostFetchFailed(
                "No BigQuery billing export table is set: add it to the connection (billing_export_table)."
            )
        try:
            bigquery_table(table)
        except FieldError as exc:
            raise CostFetchFailed(f"The billing export table {table!r} is not valid: {exc}") from None
        try:
            token, _identity = access_token(request.auth_method, config, request.secrets, ctx)
        except CheckFailed as exc:
            raise CostFetchFailed(exc.reason, transient=exc.reason.startswith("Could not reach")) from None
        project = str(config["project_id"])
        billing_project = table.split(".", 1)[0]
        base = f"{ctx.endpoint('gcp_bigquery')}/bigquery/v2/projects/{quote(billing_project, safe='')}"
        body = {
            "query": QUERY.format(table=table),
            "useLegacySql": False,
            "parameterMode": "NAMED",
            "queryParameters": [
                _param("tag_key", "STRING", request.tag_key),
                _param("project", "STRING", project),
                _param("start", "DATE", request.start.isoformat()),
                _param("end", "DATE", request.end.isoformat()),
            ],
            "timeoutMs": int(ctx.timeout * 1000),
            "maxResults": 10000,
        }
        page = _call(ctx, "POST", f"{base}/queries", token, body=json.dumps(body).encode())
        rows: list[CostRow] = []
        for _ in range(MAX_PAGES):
            if page.get("jobComplete", True):
                rows.extend(_rows(page, project, request.tag_key))
                if not page.get("pageToken"):
                    return rows
            job = page.get("jobReference") or {}
            query = {"timeoutMs": int(ctx.timeout * 1000), "maxResults": 10000}
            if page.get("pageToken"):
                query["pageToken"] = page["pageToken"]
            if job.get("location"):
                query["location"] = job["location"]
            job_id = quote(str(job.get("jobId") or ""), safe="")
            page = _call(ctx, "GET", f"{base}/queries/{job_id}?{urlencode(query)}", token)
        raise CostFetchFailed(f"BigQuery returned more than {MAX_PAGES} pages for one range; sync a shorter one.")


def _param(name: str, kind: str, value: str) -> dict[str, Any]:
    return {"name": name, "parameterType": {"type": kind}, "parameterValue": {"value": value}}


def _call(ctx: Any, method: str, url: str, token: str, body: bytes | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        response = google_request(ctx, method, url, what="BigQuery", token=token, headers=headers, body=body,
                                  max_bytes=MAX_BYTES)  # fmt: skip
    except CheckFailed as exc:
        raise CostFetchFailed(exc.reason, transient=True) from None
    if response.status != 200:
        reason = scrub(f"BigQuery answered {response.status}: {google_error(response)}", token)
        raise CostFetchFailed(reason, transient=response.status == 429 or response.status >= 500)
    try:
        data = response.json()
    except ValueError:
        raise CostFetchFailed("BigQuery answered with something that is not JSON.") from None
    return data if isinstance(data, dict) else {}


def _rows(page: dict[str, Any], project: str, tag_key: str) -> list[CostRow]:
    fields = [str(f.get("name") or "") for f in (page.get("schema") or {}).get("fields") or []]
    out = []
    for raw in page.get("rows") or []:
        values = dict(zip(fields, [cell.get("v") for cell in raw.get("f") or []], strict=False))
        try:
            day = dt.date.fromisoformat(str(values.get("day"))[:10])
        except ValueError:
            raise CostFetchFailed(f"BigQuery returned a day that is not a date: {values.get('day')!r}.") from None
        service = str(values.get("service") or "Unknown")[:200]
        tag_value = str(values.get("environment") or "")[:200]
        out.append(CostRow(
            day=day, service_name=service, service_category=service_category(service),
            billed_cost=decimal_amount(values.get("billed")),
            effective_cost=decimal_amount(values.get("effective") if values.get("effective") is not None
                                          else values.get("billed")),
            billing_currency=str(values.get("currency") or "USD")[:3], sub_account_id=project,
            environment_tag=tag_value, tags={tag_key: tag_value} if tag_value else {},
        ))  # fmt: skip
    return out
