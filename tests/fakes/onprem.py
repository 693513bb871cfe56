"""Fakes of the on-prem hypervisor APIs: Proxmox VE and the vSphere Automation API (vCenter).

Both serve HTTPS only (with a throwaway CA) because the real ones do, and the platform never turns
verification off. They log every request so tests can check the exact ``PVEAPIToken`` header and
that a vCenter session opened by a check is deleted again.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
from collections.abc import Iterable
from typing import Any

from .http import FakeServer, RecordedRequest, Reply, Route, json_reply

__all__ = ["ProxmoxFake", "VCenterFake"]


class ProxmoxFake(FakeServer):
    """Proxmox VE: ``GET /api2/json/version`` with ``Authorization: PVEAPIToken=<token id>=<secret>``.

    pveproxy puts its error in the status line ("401 authentication failure") with a
    ``{"data": null}`` body, which is what this fake does.
    """

    service = "proxmox"

    def __init__(self, *, token_id: str, token: str, version: str = "8.2.4", **kwargs: Any) -> None:
        self.token_id, self.token, self.version = token_id, token, version
        kwargs.setdefault("tls", True)
        super().__init__(**kwargs)

    def routes(self) -> Iterable[Route]:
        return (Route("GET", "/api2/json/version", self.get_version),)

    def not_found(self, request: RecordedRequest) -> Reply:
        return json_reply(501, {"data": None}, reason=f"Method '{request.method} {request.path}' not implemented")

    def get_version(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        header = request.header("Authorization")
        if not header:
            return json_reply(401, {"data": None}, reason="No ticket")
        if header != f"PVEAPIToken={self.token_id}={self.token}":
            return json_reply(401, {"data": None}, reason="authentication failure")
        release = ".".join(self.version.split(".")[:2])
        return json_reply(200, {"data": {"version": self.version, "release": release, "repoid": "faa83925c9641325"}})


class VCenterFake(FakeServer):
    """vSphere Automation API sessions: ``POST /api/session`` (basic auth) and ``DELETE /api/session``.

    `sessions` holds the ids currently open, so a test can assert a check leaves none behind.
    """

    service = "vcenter"
    _UNAUTHENTICATED = {
        "error_type": "UNAUTHENTICATED",
        "messages": [
            {"args": [], "default_message": "Authentication required.",
             "id": "com.vmware.vapi.endpoint.method.authentication.required"},
        ],
    }  # fmt: skip

    def __init__(self, *, username: str, password: str, **kwargs: Any) -> None:
        self.username, self.password = username, password
        self.sessions: set[str] = set()
        self.created: list[str] = []
        self._sessions_lock = threading.Lock()
        kwargs.setdefault("tls", True)
        super().__init__(**kwargs)

    def routes(self) -> Iterable[Route]:
        return (
            Route("POST", "/api/session", self.create_session),
            Route("DELETE", "/api/session", self.delete_session),
        )

    def not_found(self, request: RecordedRequest) -> Reply:
        body = {"error_type": "NOT_FOUND", "messages": [{"args": [], "default_message": "Not found.",
                                                          "id": "com.vmware.vapi.rest.httpNotFound"}]}  # fmt: skip
        return json_reply(404, body)

    def create_session(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if request.header("Authorization") != f"Basic {expected}":
            return json_reply(401, self._UNAUTHENTICATED)
        session_id = secrets.token_hex(16)
        with self._sessions_lock:
            self.sessions.add(session_id)
            self.created.append(session_id)
        return json_reply(201, session_id)

    def delete_session(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        session_id = request.header("vmware-api-session-id") or ""
        with self._sessions_lock:
            if session_id not in self.sessions:
                return json_reply(401, self._UNAUTHENTICATED)
            self.sessions.discard(session_id)
        return Reply(204)
