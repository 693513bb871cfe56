"""The role table of DESIGN.md, restated here independently of policy.MIN_ROLE, for every role."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from accounts import services
from accounts.models import AuditEvent, Environment
from accounts.policy import Action, can, restrict, role_in
from tests.permissions import ROLES

pytestmark = pytest.mark.django_db

V, U, P, A = "viewer", "user", "provisioner", "admin"
DESIGN_TABLE = {
    Action.VIEW: {V, U, P, A},
    Action.TEST_CONNECTION: {U, P, A},
    Action.START_RUN: {U, P, A},
    Action.USE_CONNECTION: {U, P, A},
    Action.MANAGE_ROLES: {P, A},
    Action.MANAGE_VPN: {P, A},
    Action.MANAGE_PROJECTS: {P, A},
    Action.DOWNLOAD_ROUTER_CONFIG: {P, A},
    Action.MANAGE_CONNECTIONS: {A},
    Action.MANAGE_MEMBERS: {A},
    Action.MANAGE_ENVIRONMENTS: {A},
    Action.MANAGE_PLAN: {A},
    Action.MANAGE_TOKENS: {A},
    Action.READ_AUDIT: {A},
    Action.CREATE_OWN_TOKEN: {V, U, P, A},
    Action.MANAGE_SECURITY: {A},  # login hardening: e.g. require two-factor of the organization's admins
    Action.VIEW_COSTS: {V, U, P, A},  # finops: dashboard, cost API and exports, budgets (read)
    Action.MANAGE_BUDGETS: {A},
    Action.SYNC_COSTS: {A},
}


def test_table_covers_every_action():
    assert set(DESIGN_TABLE) == set(Action)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(Action))
def test_role_table(members, org, role, action):
    assert can(members[role], action, org) is (role in DESIGN_TABLE[action])
    env = Environment.objects.get(org=org, slug="production")
    assert can(members[role], action, env) is (role in DESIGN_TABLE[action])


@pytest.mark.parametrize("action", list(Action))
def test_non_members_can_do_nothing(members, other_org, action):
    assert can(members["admin"], action, other_org) is False
    assert can(None, action, other_org) is False


@pytest.mark.parametrize("cap", ROLES)
def test_token_acts_with_the_lower_of_role_and_cap(members, org, cap):
    token, _ = services.do_create_token(org, actor=members["admin"], name="t", role_cap=cap)
    assert role_in(token, org) == cap
    for action, roles in DESIGN_TABLE.items():
        assert can(token, action, org) is (cap in roles)


def test_guardian_grant_gives_one_user_more_on_one_org(members, org):
    viewer = members["viewer"]
    assert not can(viewer, Action.READ_AUDIT, org)
    assign_perm("accounts.read_audit", viewer, org)
    viewer = type(viewer).objects.get(pk=viewer.pk)
    assert can(viewer, Action.READ_AUDIT, org)
    assert not can(viewer, Action.MANAGE_MEMBERS, org)
    services.do_create_environment(org, actor=members["admin"], slug="qa")
    assert restrict(AuditEvent.objects.all(), viewer, Action.READ_AUDIT).count() == 1


def test_grant_does_not_lift_a_capped_token(members, org):
    viewer = members["viewer"]
    assign_perm("accounts.read_audit", viewer, org)
    token, _ = services.do_create_token(org, actor=viewer, name="t", role_cap="viewer")
    assert not can(token, Action.READ_AUDIT, org)


def test_restrict_returns_nothing_for_anonymous(org, members):
    assert restrict(Environment.objects.all(), None, Action.VIEW).count() == 0
    assert restrict(Environment.objects.all(), members["viewer"], Action.VIEW).count() == 3
    assert restrict(Environment.objects.all(), members["viewer"], Action.MANAGE_ENVIRONMENTS).count() == 0
