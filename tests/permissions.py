"""One permission test matrix for the API and the pages (NetBox's `APIViewTestCases` / `ViewTestCases`).

A resource gets its role-table tests by declaring them: a `PermissionMatrix` subclass lists its
requests as `Case`s (`Case.api(...)` or `Case.page(...)`: method, path, the lowest role or the policy `Action`
that allows it, the success status, a body) and says which objects the paths name (`objects()`) and
what a refused request must not change (`snapshot()`). The base class turns every case into:

* `test_role_table[case-role]`: for each of the four roles, the success status at or above the case's
  lowest role (taken from `accounts.policy.MIN_ROLE` when the case names an `Action`, so the tests
  follow the policy's one table), 403 below it (the API's `permission_denied` error, the friendly 403
  page), with nothing changed;
* `test_other_organizations_objects_are_404[case-role]`: every role, on the same request for the other
  organization's objects (the `other_org` fixture), and on each of those objects named under our own
  organization's URL: 404, with nothing changed there (403 instead for a role refused the action before
  the object is looked up, for the placeholders listed in `refused_before_lookup`);
* `test_outsider_gets_404[case]`: a member of the other organization, on our URL: 404;
* `test_unknown_organization_is_404[case]`: an admin, on the URL of an organization that does not exist;
* `test_anonymous[case]`: 401/403 JSON (`not_authenticated`) for the API, a redirect to the login page
  for pages, with nothing changed.

    class TestEnvironmentPermissions(PermissionMatrix):
        cases = [
            Case.api("get", "/api/v1/orgs/{org}/environments/", Action.VIEW),
            Case.api("post", "/api/v1/orgs/{org}/environments/", Action.MANAGE_ENVIRONMENTS, body={"slug": "qa"}),
            Case.page("get", "/o/{org}/environments/{env}/edit/", Action.MANAGE_ENVIRONMENTS),
        ]

        def objects(self, org):
            return {"env": "staging"}

        def snapshot(self, org):
            return sorted(org.environments.values_list("slug", "name"))

A test that needs more than the status (a response body, a side effect) calls `assert_allowed()` /
`assert_denied()` / `assert_not_found()` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pytest
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.choices import ROLE_ORDER, RoleChoices, role_rank
from accounts.models import Organization
from accounts.policy import MIN_ROLE, Action

# The four roles in rank order (each may do everything the ones before it may), and their rank.
ROLES: list[str] = sorted(ROLE_ORDER, key=role_rank)
RANK: dict[str, int] = {role: role_rank(role) for role in ROLES}

UNKNOWN_ORG = "does-not-exist"
SUCCESS = {
    "api": {"get": 200, "post": 201, "put": 200, "patch": 200, "delete": 204},
    "page": {"get": 200, "post": 302},
}


@dataclass(frozen=True)
class Case:
    """One request of a role table. `path` is a template: `{org}` and the placeholders of the matrix's
    `objects()`; string values of `body` may say `{role}` (the acting role), to keep created names apart."""

    kind: Literal["api", "page"]
    method: str
    path: str
    allowed: Action | str  # the policy action (its lowest role is MIN_ROLE[action]) or a role
    ok: int = 0  # the success status; 0: the usual one for the kind and method (SUCCESS)
    body: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def min_role(self) -> str:
        """The lowest role that succeeds."""
        if isinstance(self.allowed, Action):
            return MIN_ROLE[self.allowed]
        return RoleChoices(self.allowed).value

    @property
    def success(self) -> int:
        return self.ok or SUCCESS[self.kind][self.method]

    def allows(self, role: str) -> bool:
        return role_rank(role) >= role_rank(self.min_role)

    def url(self, values: dict[str, Any]) -> str:
        return self.path.format(**values)

    def data(self, role: str = "") -> dict[str, Any] | None:
        if self.body is None:
            return None
        return {k: v.replace("{role}", role) if isinstance(v, str) else v for k, v in self.body.items()}

    def send(self, client: Client, values: dict[str, Any], role: str = "") -> HttpResponse:
        """Make the request with `client` (an `APIClient` for the API: JSON bodies; a `Client` for pages)."""
        request = getattr(client, self.method)
        if self.kind == "api":
            return request(self.url(values), self.data(role), format="json")
        if self.method == "get":
            return request(self.url(values))
        return request(self.url(values), self.data(role) or {})

    def __str__(self) -> str:
        return f"{self.kind}-{self.method.upper()} {self.path}"

    @classmethod
    def api(cls, method: str, path: str, allowed: Action | str, *, ok: int = 0, body: dict | None = None) -> Case:
        """A request to the API, made with an `APIClient` (JSON body)."""
        return cls("api", method, path, allowed, ok, body)

    @classmethod
    def page(cls, method: str, path: str, allowed: Action | str, *, ok: int = 0, body: dict | None = None) -> Case:
        """A request to a server-rendered page, made with Django's test `Client` (form body)."""
        return cls("page", method, path, allowed, ok, body)


def client_for(kind: str, user: AbstractBaseUser | None) -> Client:
    """A client of the case's kind, signed in (session) as `user`, or anonymous."""
    if kind == "api":
        client = APIClient()
        if user is not None:
            client.force_authenticate(user=user)
        return client
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


# --- assertions ------------------------------------------------------------------------------------


def _explain(case: Case, response: HttpResponse, who: str) -> str:
    return f"{who} on {case}: {response.status_code} {response.content[:300]!r}"


def assert_allowed(case: Case, response: HttpResponse, who: str = "") -> None:
    assert response.status_code == case.success, _explain(case, response, who)


def assert_denied(case: Case, response: HttpResponse, who: str = "") -> None:
    """403: the API's `permission_denied` error, or the friendly 403 page."""
    assert response.status_code == 403, _explain(case, response, who)
    if case.kind == "api":
        assert response.json()["error"]["code"] == "permission_denied", _explain(case, response, who)
    else:
        assert "do that here" in response.content.decode(), _explain(case, response, who)


def assert_role_outcome(case: Case, role: str, response: HttpResponse) -> None:
    """Success at or above the case's lowest role, 403 below it."""
    if case.allows(role):
        assert_allowed(case, response, role)
    else:
        assert_denied(case, response, role)


def assert_not_found(case: Case, response: HttpResponse, who: str = "") -> None:
    assert response.status_code == 404, _explain(case, response, who)
    if case.kind == "api":
        assert response.json()["error"]["code"] == "not_found", _explain(case, response, who)


def assert_sent_to_login(case: Case, response: HttpResponse) -> None:
    """Anonymous: 401/403 JSON for the API, a redirect to the login page (with `next`) for pages."""
    if case.kind == "api":
        assert response.status_code in (401, 403), _explain(case, response, "anonymous")
        assert response.json()["error"]["code"] == "not_authenticated", _explain(case, response, "anonymous")
    else:
        assert response.status_code == 302, _explain(case, response, "anonymous")
        assert response["Location"].startswith(reverse("login") + "?next="), response["Location"]


# --- the matrix ------------------------------------------------------------------------------------


class PermissionMatrix:
    """Subclass per resource (name it `Test...`): declare `cases`, override `objects()` and `snapshot()`.

    Fixtures a subclass needs for its objects (a fake cloud, settings) go in an autouse fixture of the
    subclass; `objects()` and `snapshot()` are plain methods called inside the test's database.
    """

    cases: ClassVar[Sequence[Case]] = ()
    # Placeholders whose object the views look up only after checking the role on what contains it (our
    # organization, our connection): a role that may not perform the action at all then gets 403 for the
    # other organization's object named there. That answer is the same for any name, so it tells nothing.
    refused_before_lookup: ClassVar[frozenset[str]] = frozenset()

    def objects(self, org: Organization) -> dict[str, Any]:
        """Create what the cases' paths name in `org` and return their placeholder values.

        Called for our organization (acme, with a member of each role) and for the other one (globex,
        with an admin): name the objects differently per organization where the URL names them, so the
        other organization's object can be tried under our URL too.
        """
        return {}

    def snapshot(self, org: Organization) -> Any:
        """The state of `org` that a refused request must leave unchanged (None: nothing is compared)."""
        return None

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "case" not in metafunc.fixturenames:
            return
        if "role" in metafunc.fixturenames:
            pairs = [(case, role) for case in self.cases for role in ROLES]
            metafunc.parametrize(("case", "role"), pairs, ids=[f"{case}-{role}" for case, role in pairs])
        else:
            metafunc.parametrize("case", self.cases, ids=[str(case) for case in self.cases])

    @pytest.fixture
    def ours(self, org: Organization, members: dict) -> dict[str, Any]:
        return {**self.objects(org), "org": org.slug}

    @pytest.fixture
    def theirs(self, other_org: Organization, ours: dict[str, Any]) -> dict[str, Any]:
        return {**self.objects(other_org), "org": other_org.slug}

    def test_role_table(self, case: Case, role: str, org: Organization, members: dict, ours: dict) -> None:
        before = self.snapshot(org)
        response = case.send(client_for(case.kind, members[role]), ours, role)
        assert_role_outcome(case, role, response)
        if not case.allows(role):
            assert self.snapshot(org) == before, f"a refused {case} changed something"

    def test_other_organizations_objects_are_404(
        self, case: Case, role: str, members: dict, other_org: Organization, ours: dict, theirs: dict
    ) -> None:
        client = client_for(case.kind, members[role])
        before = self.snapshot(other_org)
        assert_not_found(case, case.send(client, theirs, role), role)
        # Each of their objects named under our organization's URL is not found either.
        for name in sorted(set(theirs) - {"org"}):
            mixed = {**ours, name: theirs[name]}
            if case.url(mixed) == case.url(ours):
                continue
            response = case.send(client, mixed, role)
            who = f"{role} ({name} of {other_org.slug})"
            if name in self.refused_before_lookup and not case.allows(role):
                assert_denied(case, response, who)
            else:
                assert_not_found(case, response, who)
        assert self.snapshot(other_org) == before, f"{case} for another organization changed something there"

    def test_outsider_gets_404(self, case: Case, org: Organization, other_org: Organization, ours: dict) -> None:
        outsider = other_org.memberships.get(role=RoleChoices.ADMIN).user
        before = self.snapshot(org)
        response = case.send(client_for(case.kind, outsider), ours, RoleChoices.ADMIN)
        assert_not_found(case, response, f"a member of {other_org.slug}")
        assert self.snapshot(org) == before

    def test_unknown_organization_is_404(self, case: Case, members: dict, ours: dict) -> None:
        client = client_for(case.kind, members[RoleChoices.ADMIN])
        assert_not_found(case, case.send(client, {**ours, "org": UNKNOWN_ORG}, RoleChoices.ADMIN), "admin")

    def test_anonymous(self, case: Case, org: Organization, ours: dict) -> None:
        before = self.snapshot(org)
        assert_sent_to_login(case, case.send(client_for(case.kind, None), ours))
        assert self.snapshot(org) == before
