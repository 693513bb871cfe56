"""Permission-aware querysets (NetBox's `.restrict()`), built on the policy module.

Every view and viewset starts from `Model.objects.restrict(actor, action)`, so a forgotten check
returns nothing rather than everything.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from .policy import restrict


class RestrictedQuerySet(models.QuerySet):
    def restrict(self, actor: Any, action: str) -> RestrictedQuerySet:
        """Only the rows `actor` may perform `action` on (rows of organizations it belongs to)."""
        return restrict(self, actor, action)
