"""CSV exports: the plain cost table, and a FOCUS dataset that the FinOps Foundation's validator accepts.

The FOCUS export writes the FOCUS 1.2 columns the platform knows, plus the 1.0 names of the columns 1.2
renamed (Provider, Publisher, InvoiceIssuer), so the published `focus-validator` (which checks FOCUS 1.0)
and 1.2 readers both find theirs. focus-validator 1.0.0 also reads two spellings of its own
(`ResourceID`, and `ChargeType`, ChargeCategory's pre-1.0 name): both are written, with the same values.
Rows are a service's daily total, so SkuId/SkuPriceId carry an aggregate id (`<provider>:<service>`).
Columns FOCUS requires to be non-null get the best value known:
ListCost and ContractedCost fall back to BilledCost when the cloud did not report them (Cost
Explorer's daily grouping has no list price). Platform columns use FOCUS's `x_` prefix for custom columns.
Rows stream from an iterator, so a large export never sits in memory.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet

__all__ = ["FOCUS_COLUMNS", "PLAIN_COLUMNS", "focus_rows", "plain_rows", "stream_csv"]

FOCUS_COLUMNS: tuple[str, ...] = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType",
    "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ChargeType", "ChargePeriodEnd", "ChargePeriodStart",
    "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountStatus",
    "CommitmentDiscountType", "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice",
    "EffectiveCost", "InvoiceIssuer", "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory",
    "PricingQuantity", "PricingUnit", "Provider", "ProviderName", "Publisher", "PublisherName", "RegionId",
    "RegionName", "ResourceId", "ResourceID", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName",
    "ServiceSubcategory", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "SubAccountType", "Tags",
    "x_Connection", "x_Environment",
)  # fmt: skip

PLAIN_COLUMNS: tuple[str, ...] = (
    "day", "connection", "provider", "environment", "service", "service_category", "billed_cost",
    "effective_cost", "currency",
)  # fmt: skip


def _datetime(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


class _Echo:
    """A file-like whose write returns the line: csv.writer into a streaming response."""

    def write(self, value: str) -> str:
        return value


def stream_csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow(list(header))
    for row in rows:
        yield writer.writerow(["" if v is None else v for v in row])


def focus_rows(records: QuerySet) -> Iterator[list[Any]]:
    """One FOCUS row per cost record, in FOCUS_COLUMNS order."""
    queryset = records.select_related("connection", "environment").order_by("charge_period_start", "pk")
    for r in queryset.iterator(chunk_size=2000):
        billed = r.billed_cost
        sku = f"{r.provider}:{r.service_name}"  # an aggregate SKU: rows are a service's daily total
        values = {
            "BilledCost": billed,
            "BillingAccountId": r.sub_account_id or r.connection.name,
            "BillingAccountName": r.connection.name,
            "BillingAccountType": "Billing Account",
            "BillingCurrency": r.billing_currency,
            "BillingPeriodEnd": _datetime(r.billing_period_end),
            "BillingPeriodStart": _datetime(r.billing_period_start),
            "ChargeCategory": r.charge_category,
            "ChargeDescription": f"{r.service_name} usage",
            "ChargeFrequency": "Usage-Based",
            "ChargeType": r.charge_category,  # ChargeCategory's pre-1.0 name (focus-validator 1.0.0 reads it)
            "ChargePeriodEnd": _datetime(r.charge_period_end),
            "ChargePeriodStart": _datetime(r.charge_period_start),
            "ContractedCost": billed,
            "EffectiveCost": r.effective_cost,
            "InvoiceIssuer": r.provider_name,
            "InvoiceIssuerName": r.provider_name,
            "ListCost": r.list_cost if r.list_cost is not None else billed,
            "Provider": r.provider_name,
            "ProviderName": r.provider_name,
            "Publisher": r.provider_name,
            "PublisherName": r.provider_name,
            "RegionId": r.region_id or None,
            "RegionName": r.region_id or None,
            "ResourceId": r.resource_id or None,
            "ResourceID": r.resource_id or None,  # focus-validator 1.0.0 spells the 1.0 column this way
            "SkuId": sku,
            "SkuPriceId": sku,
            "ServiceCategory": r.service_category,
            "ServiceName": r.service_name,
            "ServiceSubcategory": None,
            "SubAccountId": r.sub_account_id or None,
            "SubAccountName": r.connection.name if r.sub_account_id else None,
            "SubAccountType": "Account" if r.sub_account_id else None,
            "Tags": json.dumps(r.tags or {}, sort_keys=True),
            "x_Connection": r.connection.name,
            "x_Environment": r.environment.slug if r.environment else None,
        }
        yield [values.get(column) for column in FOCUS_COLUMNS]


def plain_rows(records: QuerySet) -> Iterator[list[Any]]:
    queryset = records.select_related("connection", "environment").order_by("charge_period_start", "pk")
    for r in queryset.iterator(chunk_size=2000):
        yield [r.charge_period_start.isoformat(), r.connection.name, r.provider,
               r.environment.slug if r.environment else "", r.service_name, r.service_category,
               r.billed_cost, r.effective_cost, r.billing_currency]  # fmt: skip
