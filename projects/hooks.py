"""What the projects app plugs into connections, through the registries connections offers (so the
connections app never imports this one): the deletion preview's blocking project rows, the linked
project count on connection cards, and the detected permissions of a connection role."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from connections import role_validation, services
from connections.models import Connection, ConnectionRole

from .models import TerraformProject


def projects_of(connection: Connection) -> list[str]:
    rows = TerraformProject.objects.filter(
        Q(connection=connection) | Q(backend_connection=connection) | Q(git_connection=connection)
        | Q(role__connection=connection)
    ).order_by("name").values_list("name", flat=True).distinct()  # fmt: skip
    return list(rows)


def deletion_group(connection: Connection) -> services.DependentGroup:
    names = projects_of(connection)
    return services.DependentGroup("terraform_projects", "Terraform projects", True, names, len(names))


def card_count(ids: list[Any]) -> dict[Any, int]:
    """Projects per connection (as the named cloud connection, state backend or Git source): the three
    grouped counts in one round trip (UNION ALL), since the connections page asks for every page it shows."""

    def grouped(field: str) -> Any:
        rows = TerraformProject.objects.filter(**{f"{field}__in": ids}).values_list(field)
        return rows.annotate(n=Count("id")).order_by()

    counts: dict[Any, int] = {}
    rows = grouped("connection").union(grouped("backend_connection"), grouped("git_connection"), all=True)
    for connection_id, n in rows.order_by():
        counts[connection_id] = counts.get(connection_id, 0) + n
    return counts


def detected_for_role(role: ConnectionRole) -> set[str]:
    found: set[str] = set()
    for perms in TerraformProject.objects.filter(role=role).values_list("detected_permissions", flat=True):
        found.update(perms or [])
    return found


def install() -> None:
    if deletion_group not in services.DELETION_DEPENDENTS:
        services.DELETION_DEPENDENTS.insert(1, deletion_group)
    if not any(func is card_count for _, _, func in services.CARD_COUNTERS):
        services.register_card_counter("linked project", "linked projects", card_count)
    if detected_for_role not in role_validation.DETECTED_PERMISSION_SOURCES:
        role_validation.register_detected_permissions(detected_for_role)
