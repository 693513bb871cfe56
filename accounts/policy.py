"""The role table of DESIGN.md, as data, and the one function everyone asks: `can(actor, action, obj)`.

API permission classes, page mixins, the admin site, services and tasks all go through this module;
none of them compare roles themselves. An *actor* is a `User` or an `APIToken` (a token acts as its
user, limited to its organization and capped to its `role_cap`). Per-object grants from
django-guardian can give a user more on one object than their organization role, never in another
organization.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from guardian.shortcuts import get_objects_for_user

from .actors import SYSTEM, PlatformOperator, split_actor
from .choices import ROLE_ORDER, RoleChoices, role_rank

if TYPE_CHECKING:
    from .models import APIToken, Organization, User


class Action(StrEnum):
    VIEW = "view"
    TEST_CONNECTION = "test_connection"
    START_RUN = "start_run"
    USE_CONNECTION = "use_connection"
    MANAGE_ROLES = "manage_roles"
    MANAGE_VPN = "manage_vpn"
    MANAGE_PROJECTS = "manage_projects"
    DOWNLOAD_ROUTER_CONFIG = "download_router_config"
    MANAGE_CONNECTIONS = "manage_connections"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_ENVIRONMENTS = "manage_environments"
    MANAGE_PLAN = "manage_plan"
    MANAGE_TOKENS = "manage_tokens"
    READ_AUDIT = "read_audit"
    CREATE_OWN_TOKEN = "create_own_token"
    MANAGE_SECURITY = "manage_security"  # login hardening: e.g. require two-factor of the organization's admins
    VIEW_COSTS = "view_costs"  # finops: the dashboard, cost API and exports, budgets and anomalies (read)
    MANAGE_BUDGETS = "manage_budgets"  # finops: create, change and delete budgets
    SYNC_COSTS = "sync_costs"  # finops: ask for a cost sync or a backfill of a chosen range


# The role table: the lowest role that may perform each action (roles are cumulative).
MIN_ROLE: dict[Action, str] = {
    Action.VIEW: RoleChoices.VIEWER,
    Action.CREATE_OWN_TOKEN: RoleChoices.VIEWER,
    Action.TEST_CONNECTION: RoleChoices.USER,
    Action.START_RUN: RoleChoices.USER,
    Action.USE_CONNECTION: RoleChoices.USER,
    Action.MANAGE_ROLES: RoleChoices.PROVISIONER,
    Action.MANAGE_VPN: RoleChoices.PROVISIONER,
    Action.MANAGE_PROJECTS: RoleChoices.PROVISIONER,
    Action.DOWNLOAD_ROUTER_CONFIG: RoleChoices.PROVISIONER,
    Action.MANAGE_CONNECTIONS: RoleChoices.ADMIN,
    Action.MANAGE_MEMBERS: RoleChoices.ADMIN,
    Action.MANAGE_ENVIRONMENTS: RoleChoices.ADMIN,
    Action.MANAGE_PLAN: RoleChoices.ADMIN,
    Action.MANAGE_TOKENS: RoleChoices.ADMIN,
    Action.READ_AUDIT: RoleChoices.ADMIN,
    Action.MANAGE_SECURITY: RoleChoices.ADMIN,
    Action.VIEW_COSTS: RoleChoices.VIEWER,
    Action.MANAGE_BUDGETS: RoleChoices.ADMIN,
    Action.SYNC_COSTS: RoleChoices.ADMIN,
}

# Per-object grants: (model label, action) -> guardian permission ("app.codename"). Apps add their own.
OBJECT_PERMISSIONS: dict[tuple[str, Action], str] = {
    ("accounts.organization", Action.MANAGE_MEMBERS): "accounts.manage_members",
    ("accounts.organization", Action.MANAGE_ENVIRONMENTS): "accounts.manage_environments",
    ("accounts.organization", Action.READ_AUDIT): "accounts.read_audit",
}


SYSTEM_ACTIONS = frozenset(
    {Action.VIEW, Action.TEST_CONNECTION, Action.USE_CONNECTION, Action.MANAGE_ROLES, Action.SYNC_COSTS}
)

# What a platform operator (a superuser through the admin site, accounts.actors.PlatformOperator) may do
# in any organization: inspect, revoke tokens, deactivate/describe/delete connections. Never use
# connections (their secrets) or manage members: those stay with the organization.
OPERATOR_ACTIONS = frozenset({Action.VIEW, Action.MANAGE_TOKENS, Action.MANAGE_CONNECTIONS})


def register_object_permission(model_label: str, action: Action, perm: str) -> None:
    """Let an app declare which guardian permission grants `action` on one of its objects."""
    OBJECT_PERMISSIONS[(model_label, action)] = perm


def _model(name: str) -> Any:
    """A model of this app from the registry: the policy module imports no models (they import it)."""
    return apps.get_model("accounts", name)


def org_of(obj: Any) -> Organization | None:
    if isinstance(obj, _model("Organization")):
        return obj
    return getattr(obj, "org", None)


def member_role(user: User, org_id: int) -> str | None:
    """The user's role in an organization, cached on the user object for the request."""
    cache: dict[int, str | None] = user.__dict__.setdefault("_org_roles", {})
    if org_id not in cache:
        memberships = _model("Membership").objects.filter(user=user, org_id=org_id)
        cache[org_id] = memberships.values_list("role", flat=True).first()
    return cache[org_id]


def remember_role(user: User, org_id: int, role: str | None) -> None:
    """Seed `member_role`'s cache with a role the caller read together with the organization (one query
    instead of two per request)."""
    user.__dict__.setdefault("_org_roles", {})[org_id] = role


def org_with_role(organizations: QuerySet, actor: Any, slug: str | None) -> Organization | None:
    """The organization `slug` among `organizations`, read with the actor's membership role in one query (and
    remembered, see `remember_role`): every check of the request that follows needs that role."""
    user, _ = split_actor(actor)
    organizations = organizations.filter(slug=slug)
    if user is None:
        return organizations.first()
    role = _model("Membership").objects.filter(user=user, org=OuterRef("pk")).values("role")[:1]
    org = organizations.annotate(member_role=Subquery(role)).first()
    if org is not None:
        remember_role(user, org.pk, org.member_role)
    return org


def clear_role_cache(user: Any) -> None:
    if user is not None:
        user.__dict__.pop("_org_roles", None)


def role_in(actor: Any, org: Organization | int | None) -> str | None:
    """The role `actor` acts with in `org`: membership role, capped by a token; None if not a member."""
    user, token = split_actor(actor)
    if user is None or org is None:
        return None
    org_id = org if isinstance(org, int) else org.pk
    if token is not None:
        if token.org_id != org_id or not token.is_usable:
            return None
        return token.effective_role(member_role(user, org_id))
    return member_role(user, org_id)


def is_member(actor: Any, org: Organization | int | None) -> bool:
    return role_in(actor, org) is not None


def _object_grant(user: User, token: APIToken | None, action: Action, obj: Any) -> bool:
    perm = OBJECT_PERMISSIONS.get((obj._meta.label_lower, action))
    if perm is None:
        return False
    if token is not None and token.role_cap and role_rank(token.role_cap) < role_rank(MIN_ROLE[action]):
        return False  # a capped token never gains more than its cap through grants
    return user.has_perm(perm, obj)


def can(actor: Any, action: Action | str, obj: Any) -> bool:
    """May `actor` perform `action` on `obj` (an Organization or any object with an `org`)?"""
    action = Action(action)
    if actor is SYSTEM:
        return action in SYSTEM_ACTIONS and org_of(obj) is not None
    if isinstance(actor, PlatformOperator):
        return actor.is_valid and action in OPERATOR_ACTIONS and org_of(obj) is not None
    user, token = split_actor(actor)
    org = org_of(obj)
    if user is None or org is None:
        return False
    role = role_in(actor, org)
    if role is None:
        return False
    if role_rank(role) >= role_rank(MIN_ROLE[action]):
        return True
    if _object_grant(user, token, action, obj):
        return True
    return obj is not org and _object_grant(user, token, action, org)


def visible(actor: Any, obj: Any) -> bool:
    """Whether the object exists for this actor at all (members see their organization's objects)."""
    if actor is SYSTEM or isinstance(actor, PlatformOperator):
        return org_of(obj) is not None and (actor is SYSTEM or actor.is_valid)
    return is_member(actor, org_of(obj))


def check(actor: Any, action: Action | str, obj: Any) -> None:
    """Raise Http404 when `obj` is invisible to the actor, PermissionDenied when visible but not allowed."""
    if not visible(actor, obj):
        raise Http404("Not found.")
    if not can(actor, action, obj):
        raise PermissionDenied(f"Your role does not allow this action ({Action(action).value}).")


def roles_at_least(role: str) -> list[str]:
    return [r for r, rank in ROLE_ORDER.items() if rank >= role_rank(role)]


def allowed_org_ids(actor: Any, action: Action | str) -> QuerySet:
    """A subquery of organization ids where the actor's role allows `action`."""
    Membership = _model("Membership")
    action = Action(action)
    user, token = split_actor(actor)
    if user is None:
        return Membership.objects.none().values("org_id")
    qs = Membership.objects.filter(user=user, role__in=roles_at_least(MIN_ROLE[action]))
    if token is not None:
        if not token.is_usable or (token.role_cap and role_rank(token.role_cap) < role_rank(MIN_ROLE[action])):
            return Membership.objects.none().values("org_id")
        qs = qs.filter(org_id=token.org_id)
    return qs.values("org_id")


def member_org_ids(actor: Any) -> QuerySet:
    return allowed_org_ids(actor, Action.VIEW)


def restrict_to_org(queryset: QuerySet, actor: Any, action: Action | str, org: Organization) -> QuerySet:
    """`restrict(queryset, actor, action)` narrowed to the rows of one organization.

    When the actor's role there allows the action (the role is cached for the request), that is every row of
    the organization, and the query needs none of restrict's subqueries (memberships, django-guardian's
    grants); otherwise it is exactly restrict's answer."""
    action = Action(action)
    org_field = getattr(queryset.model, "org_field", "org")
    if not org_field:
        return restrict(queryset, actor, action).filter(pk=org.pk)
    person = actor is not SYSTEM and not isinstance(actor, PlatformOperator)
    if person and role_rank(role_in(actor, org)) >= role_rank(MIN_ROLE[action]):
        return queryset.filter(**{org_field: org})
    return restrict(queryset, actor, action).filter(**{org_field: org})


def restrict(queryset: QuerySet, actor: Any, action: Action | str) -> QuerySet:
    """Rows of `queryset` the actor may perform `action` on (role, or a per-object grant)."""
    action = Action(action)
    model = queryset.model
    org_field = getattr(model, "org_field", "org")
    lookup = f"{org_field}__in" if org_field else "pk__in"
    condition = Q(**{lookup: allowed_org_ids(actor, action)})
    user, token = split_actor(actor)
    if user is None or (
        token is not None and token.role_cap and role_rank(token.role_cap) < role_rank(MIN_ROLE[action])
    ):
        return queryset.filter(condition)
    if role_rank(MIN_ROLE[action]) == min(ROLE_ORDER.values()):
        # Every member's role allows it (VIEW): the grants below only ever add rows of the member's
        # organizations, which `condition` already holds. Skipping them saves two queries and a subquery
        # per list and detail request.
        return queryset.filter(condition)
    Organization = _model("Organization")
    members = Q(**{lookup: member_org_ids(actor)})
    perm = OBJECT_PERMISSIONS.get((model._meta.label_lower, action))
    if perm is not None:
        granted = get_objects_for_user(user, perm, klass=model, accept_global_perms=False, with_superuser=False)
        condition |= Q(pk__in=granted.values("pk")) & members
    org_perm = OBJECT_PERMISSIONS.get(("accounts.organization", action))
    if org_perm is not None and model is not Organization:
        orgs = get_objects_for_user(user, org_perm, klass=Organization, accept_global_perms=False, with_superuser=False)
        condition |= Q(**{lookup: orgs.values("pk")}) & members
    return queryset.filter(condition)
