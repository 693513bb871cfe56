"""The cost-data contract: what a provider's cost source is handed and what it returns.

A provider that can report its bill sets `Provider.cost_source` to a `CostSource`. The FinOps app
builds a `CostRequest` (the connection's decrypted credentials, the `CheckContext` with its endpoints
and timeout, a day range) and gets back plain `CostRow`s already in the FOCUS 1.2 vocabulary
(BilledCost, EffectiveCost, ServiceName, ...). Rows carry `Decimal` amounts and calendar days; storing,
attribution to environments, budgets and exports stay generic in `finops`. Providers without a cost
source answer "Cost sync is not available for <provider>" (`unavailable_reason`): a status, not an error.

A failed fetch raises `CostFetchFailed(reason, transient=...)`; the reason is in the cloud's own words,
scrubbed of secrets, and `transient` tells the sync whether a retry with backoff is worth it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "CostFetchFailed",
    "CostRequest",
    "CostRow",
    "CostSource",
    "decimal_amount",
    "service_category",
    "unavailable_reason",
]


def unavailable_reason(label: str) -> str:
    """The status shown for a connection whose provider has no cost source."""
    return f"Cost sync is not available for {label}."


class CostFetchFailed(Exception):
    """The cloud refused or could not answer; `reason` is safe to show (no secret), `transient` retries."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True)
class CostRow:
    """One FOCUS row for one day: the charge period is `[day, day + 1)`."""

    day: dt.date
    service_name: str
    billed_cost: Decimal
    effective_cost: Decimal
    billing_currency: str
    list_cost: Decimal | None = None
    service_category: str = "Other"
    charge_category: str = "Usage"
    sub_account_id: str = ""
    region_id: str = ""
    resource_id: str = ""
    #: The value of the environment tag the cloud reported for this cost ("" when untagged).
    environment_tag: str = ""
    #: The value of the project tag (the Terraform project whose run created the resources), "" when untagged.
    project_tag: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class CostRequest:
    """Everything a cost source may use. `ctx` is the connection's `CheckContext` (endpoints, timeout,
    the SSRF-guarded `request`, the OIDC signer); `end` is exclusive, like the clouds' own APIs."""

    auth_method: str
    config: dict[str, Any]
    secrets: dict[str, Any]
    ctx: Any
    start: dt.date
    end: dt.date
    tag_key: str = "environment"
    #: The project tag's key ("" when project attribution is off): sources that can, report its value per row.
    project_tag_key: str = ""


@dataclass(frozen=True)
class DemoAccount:
    """A demo connection of a provider that can never reach a real account (documented example keys),
    and the services its generated bill names: what `seed_demo` needs, declared by the provider."""

    auth_method: str
    config: dict[str, Any]
    secrets: dict[str, Any]
    sub_account_id: str
    region_id: str
    #: (service, production daily base cost, staging share of it)
    services: tuple[tuple[str, Decimal, Decimal], ...]


class CostSource:
    """A provider's cost reader. Stateless; `fetch` returns every row of the range or raises."""

    #: FOCUS ProviderName ("Amazon Web Services", "Microsoft", "Google Cloud").
    provider_name: str = ""
    #: The demo connection `seed_demo` creates for this provider's costs (None: no demo).
    demo: DemoAccount | None = None

    def fetch(self, request: CostRequest) -> list[CostRow]:
        raise NotImplementedError


# AWS service names -> FOCUS ServiceCategory (the spec's closed list); unknown services are "Other".
_CATEGORY_WORDS: tuple[tuple[str, str], ...] = (
    ("compute", "Compute"), ("ec2", "Compute"), ("lambda", "Compute"), ("virtual machine", "Compute"),
    ("kubernetes", "Compute"), ("container", "Compute"), ("functions", "Compute"),
    ("storage", "Storage"), ("s3", "Storage"), ("disk", "Storage"), ("backup", "Storage"),
    ("database", "Databases"), ("rds", "Databases"), ("sql", "Databases"), ("dynamo", "Databases"),
    ("network", "Networking"), ("cloudfront", "Networking"), ("vpc", "Networking"), ("dns", "Networking"),
    ("route 53", "Networking"), ("load balanc", "Networking"), ("bandwidth", "Networking"),
    ("monitor", "Management and Governance"), ("cloudwatch", "Management and Governance"),
    ("logging", "Management and Governance"), ("key vault", "Security"), ("kms", "Security"),
    ("security", "Security"), ("iam", "Identity"), ("identity", "Identity"), ("bigquery", "Analytics"),
    ("machine learning", "AI and Machine Learning"), ("sagemaker", "AI and Machine Learning"),
    ("tax", "Other"),
)  # fmt: skip


def service_category(service_name: str) -> str:
    """A FOCUS ServiceCategory for a service name, by keywords (good enough to group; "Other" when unsure)."""
    lowered = service_name.lower()
    for word, category in _CATEGORY_WORDS:
        if word in lowered:
            return category
    return "Other"


def decimal_amount(value: Any) -> Decimal:
    """An amount from a cloud API (string or number) as a Decimal; never through float."""
    try:
        return Decimal(str(value if value is not None else "0"))
    except InvalidOperation:
        raise CostFetchFailed(f"The cloud returned an amount that is not a number: {str(value)[:40]!r}.") from None
