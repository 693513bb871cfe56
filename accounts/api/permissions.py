"""DRF glue for the policy module: org-scoped viewsets declare which action each DRF action needs."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.actors import split_actor
from accounts.authn import twofactor
from accounts.models import Organization
from accounts.policy import (
    MIN_ROLE,
    Action,
    can,
    member_org_ids,
    org_with_role,
    remember_role,
    restrict_to_org,
    roles_at_least,
    visible,
)

TWO_FACTOR_REQUIRED = (
    "This organization requires two-factor authentication for admins: turn it on for your account first."
)


def check_two_factor_requirement(request: Request, org: Organization) -> None:
    """login hardening: an admin of an organization that requires two-factor, acting without it, is
    refused there (403 `two_factor_required`), whatever the action."""
    user, token = split_actor(request.auth or request.user)
    if twofactor.api_requirement_unmet(user, token, org):
        raise PermissionDenied(TWO_FACTOR_REQUIRED, code="two_factor_required")


class TwoFactorRequirementPermission(BasePermission):
    """For views whose object is the organization itself (`/api/v1/orgs/<slug>/`)."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if isinstance(obj, Organization):
            check_two_factor_requirement(request, obj)
        return True


class PolicyPermission(BasePermission):
    """Asks `policy.can` with the action the view declares for the current DRF action.

    The organization itself is resolved first: one the actor does not belong to answers 404.
    """

    message = "Your role does not allow this action."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        org = view.get_org() if hasattr(view, "get_org") else None
        if org is None:
            return True
        check_two_factor_requirement(request, org)
        return can(request.auth or request.user, view.required_action(), org) or view.object_level_only()

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        actor = request.auth or request.user
        if not visible(actor, obj):
            raise Http404
        return can(actor, view.required_action(), obj)


class OrgScopedMixin:
    """For viewsets under /api/v1/orgs/<org_slug>/...: finds the org (404 for non-members) and maps
    DRF actions to policy actions via `action_policies` (default: read = VIEW)."""

    permission_classes = [PolicyPermission]
    action_policies: dict[str, Action] = {}
    default_write_action: Action = Action.MANAGE_MEMBERS
    # Actions whose check needs the object (per-object grants); has_permission lets them through.
    object_level_actions: tuple[str, ...] = ()

    @property
    def actor(self) -> Any:
        return self.request.auth or self.request.user

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no org
            return self.queryset
        return self.get_org_queryset()

    def get_org_queryset(self) -> Any:
        raise NotImplementedError

    def restrict(self, queryset: Any, action: Action = Action.VIEW) -> Any:
        """The rows of this organization the actor may perform `action` on (`policy.restrict_to_org`): every
        row of it when the role allows the action, so list queries carry no permission subqueries."""
        return restrict_to_org(queryset, self.actor, action, self.get_org())

    def get_org(self) -> Organization:
        if not hasattr(self, "_org"):
            slug = self.kwargs.get("org_slug")
            _, token = split_actor(self.actor)
            if token is not None and "member_role" in token.__dict__:
                self._org = self._token_org(token, slug)
                return self._org
            orgs = Organization.objects.filter(pk__in=member_org_ids(self.actor))
            org = org_with_role(orgs, self.actor, slug)
            if org is None:
                raise Http404("Organization not found.")
            self._org = org
        return self._org

    @staticmethod
    def _token_org(token: Any, slug: str | None) -> Organization:
        """The organization for a token read by `APITokenAuthentication` (with its organization and the user's
        role there), without a query: the one the query below would find, i.e. the token's own organization,
        when the token is usable and its user still a member there; else 404."""
        org = token.org
        if org.slug != slug or not token.is_usable or token.member_role not in roles_at_least(MIN_ROLE[Action.VIEW]):
            raise Http404("Organization not found.")
        org.member_role = token.member_role
        remember_role(token.user, org.pk, token.member_role)
        return org

    def required_action(self) -> Action:
        name = getattr(self, "action", None) or ""
        if name in self.action_policies:
            return self.action_policies[name]
        if name in ("list", "retrieve", "metadata") or self.request.method in ("GET", "HEAD", "OPTIONS"):
            return Action.VIEW
        return self.default_write_action

    def object_level_only(self) -> bool:
        return getattr(self, "action", None) in self.object_level_actions
