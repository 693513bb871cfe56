"""schemathesis against /api/schema/: every operation of the API, called with generated input (valid and
invalid) by an organization admin with an API token, must never answer a server error, and every response
must match what the schema promises (body, status code, content type).

One test per operation, and one per operation without credentials. The examples per operation are bounded
(`SCHEMATHESIS_MAX_EXAMPLES`, default 20, about half valid and half invalid input) and derandomized, so a run
is repeatable and takes a few minutes. Requests go through the project's WSGI application inside the test's
transaction (nothing listens on a port). Half the generated cases name the caller's own organization in the
path, so operations get past the 404 of a random slug.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import do_create_token
from config.wsgi import application

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "20"))
# Not `negative_data_rejection`: DRF's string fields accept a JSON number and store its text, by design, which
# that check reports as "invalid input accepted" (it did find the multipart bodies the API no longer reads).
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", application)
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}

pytestmark = pytest.mark.django_db


@pytest.fixture
def wsgi_in_test_transaction():
    """Like Django's test client: keep the WSGI handler from closing the test's database connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(members, org, other_org) -> str:
    _, value = do_create_token(org, actor=members["admin"], name="schemathesis")
    return value


def test_every_operation_is_fuzzed():
    assert len(OPERATIONS) > 20 and all(label.split()[1].startswith("/api/") for label in OPERATIONS)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_operation_conforms_to_the_schema(label: str, admin_token: str, org: Any, wsgi_in_test_transaction: None):
    operation = OPERATIONS[label]
    headers = {"Authorization": f"Bearer {admin_token}"}
    own_org = {"org_slug": org.slug} if "org_slug" in operation.path_parameters else None
    # Given to the generator (not patched into a case afterwards), so a case whose token or org is fixed is never
    # counted as "invalid input that was accepted".
    strategies = [
        operation.as_strategy(mode, headers=headers, path_parameters=path_parameters)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for path_parameters in ((own_org, None) if own_org else (None,))
    ]

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(strategies))
    def run(case) -> None:
        case.call_and_validate(checks=CHECKS)

    run()


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_operation_without_credentials_conforms_too(label: str, org: Any, wsgi_in_test_transaction: None):
    """An anonymous caller (fewer examples): 401 in the documented shape, or the operation's own answer where it is
    public (the token endpoint, whose body is parsed before anyone is known), never a server error."""
    operation = OPERATIONS[label]
    strategies = [operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]

    @settings(
        max_examples=max(MAX_EXAMPLES // 4, 3), deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(case=st.one_of(strategies))
    def run(case) -> None:
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        case.call_and_validate(checks=CHECKS)

    run()
