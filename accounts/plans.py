"""Plan limits as a registry: what an organization uses that a plan would not allow.

The plan is billing: it changes only through `services.do_change_plan` (platform operators in the
admin site, or the `set_plan` command a billing system calls), and a downgrade is refused while the
organization uses something the new plan does not allow. The accounts app knows no connections (it
sits below them), so each app that enforces a plan limit registers a check here from its
`AppConfig.ready()`; `plan_violations` asks them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Organization

PlanCheck = Callable[["Organization", str], list[str]]

_CHECKS: list[PlanCheck] = []


def register_plan_check(check: PlanCheck) -> None:
    """Add a check: given an organization and a plan, the reasons that plan would be exceeded."""
    if check not in _CHECKS:
        _CHECKS.append(check)


def plan_violations(org: Organization, plan: str) -> list[str]:
    """Every reason `org` could not be on `plan` today (empty: it fits)."""
    return [reason for check in _CHECKS for reason in check(org, plan)]
