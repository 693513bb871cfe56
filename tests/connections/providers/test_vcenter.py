"""VMware vCenter (connections/providers/vcenter.py): the check against a local HTTPS fake (session opened, then
deleted), and materialization."""

from __future__ import annotations

import base64
import json

from connections.providers import get_provider
from tests.connections.providers.checks_onprem import (
    _no_operator_allow_list,  # noqa: F401
    check,
    fail,
    loopback,  # noqa: F401
    point_at,
    vcenter_setup,
)
from tests.connections.providers.conftest import cleaned, materialized


def test_vcenter_opens_then_deletes_its_session(loopback):
    fake, config, secrets = vcenter_setup()
    with fake:
        config = point_at("vcenter", config, fake)

        result = check("vcenter", "password", config, secrets, trust=fake.ca_pem)

        assert result.message.startswith("Opened a vSphere API session on 127.0.0.1:")
        assert result.details["session_closed"] is True
        create, delete = fake.requests
        basic = base64.b64encode(f"terraform@vsphere.local:{secrets['password']}".encode()).decode()
        assert (create.method, create.path, create.header("Authorization")) == (
            "POST",
            "/api/session",
            f"Basic {basic}",
        )
        assert (delete.method, delete.path) == ("DELETE", "/api/session")
        assert delete.header("vmware-api-session-id") == fake.created[0]
        assert delete.header("Authorization") is None
        assert fake.sessions == set()
        assert fake.created[0] not in result.message + json.dumps(result.details)  # a session id is a credential


def test_vcenter_wrong_password_fails_with_401_and_opens_nothing(loopback):
    fake, config, secrets = vcenter_setup()
    with fake:
        config = point_at("vcenter", config, fake)
        secrets["password"] = "not-the-password"

        assert fail("vcenter", "password", config, secrets, trust=fake.ca_pem) == "Authentication required."
        assert [r.method for r in fake.requests] == ["POST"]
        assert fake.created == []


# --- Materialization ------------------------------------------------------------------------------


def test_vcenter_env_values() -> None:
    env = materialized("vcenter", "password").env
    assert env["VSPHERE_SERVER"] == "192.168.60.5"
    assert env["VSPHERE_ALLOW_UNVERIFIED_SSL"] == "false"
    config, secrets = cleaned("vcenter", "password")
    env = get_provider("vcenter").materialize("password", {**config, "port": 8443}, secrets).env
    assert env["VSPHERE_SERVER"] == "192.168.60.5:8443"
