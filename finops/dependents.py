"""What a connection's deletion removes from FinOps: registered with the connections app's preview,
so `connections` never imports `finops` (it sits below it in the layers)."""

from __future__ import annotations

from connections.models import Connection
from connections.services import DELETION_DEPENDENTS, DependentGroup, register_deletion_dependent

from .models import CostRecord, SyncJob


def _cost_records(connection: Connection) -> DependentGroup:
    count = CostRecord.objects.filter(connection=connection).count()
    return DependentGroup("cost_records", "FinOps cost records", False, [], count)


def _sync_jobs(connection: Connection) -> DependentGroup:
    count = SyncJob.objects.filter(connection=connection).count()
    return DependentGroup("sync_jobs", "FinOps sync jobs", False, [], count)


if _cost_records not in DELETION_DEPENDENTS:
    register_deletion_dependent(_cost_records)
    register_deletion_dependent(_sync_jobs)
