"""What the projects app plugs into connections, through the registries connections offers (so the
connections app never imports this one): the deletion preview's blocking project rows, the linked
project count on connection cards, and the detected permissions of a connection role."""

from __future__ import annotations

from django.db.models import OuterRef, Q

from connections import role_validation, services
from connections.models import Connection, ConnectionRole
from core.expressions import SubqueryCount

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


def card_count() -> SubqueryCount:
    """Projects of a connection (as the named cloud connection, state backend or Git source), as a column of
    the connections page's query: counted for the page's rows only, in the same round trip."""
    me = OuterRef("pk")
    linked = TerraformProject.objects.filter(Q(connection=me) | Q(backend_connection=me) | Q(git_connection=me))
    return SubqueryCount(linked)


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
