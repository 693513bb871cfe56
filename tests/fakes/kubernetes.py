"""A fake Kubernetes API server: ``GET /version`` over HTTPS with its own CA.

Like a real API server it authenticates a bearer token *or* a client certificate signed by its
client CA (TLS with ``ssl.CERT_OPTIONAL``, then ``getpeercert()``), and answers failures with a
``Status`` object whose ``message`` is what kubectl would print.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .http import FakeServer, RecordedRequest, Reply, Route, json_reply
from .saas import bearer_token

__all__ = ["KubernetesFake"]

VERSION_INFO = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.2",
    "gitCommit": "5864a4677267e6adeae276ad85882a8714d69d9d",
    "gitTreeState": "clean",
    "buildDate": "2024-10-22T20:28:14Z",
    "goVersion": "go1.22.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def status(code: int, reason: str, message: str) -> Reply:
    """A ``meta/v1 Status`` failure, the body every API server error has."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}  # fmt: skip
    return json_reply(code, body)


class KubernetesFake(FakeServer):
    """An API server accepting `token` as a bearer token, or any client certificate from its client CA.

    Anonymous requests get 401 (``--anonymous-auth=false``); `forbid=True` makes authenticated users
    get 403, as RBAC would for a user without access to ``/version``.
    """

    service = "kubernetes"

    def __init__(self, token: str | None = None, *, forbid: bool = False, **kwargs: Any) -> None:
        self.token, self.forbid = token, forbid
        kwargs.setdefault("client_certs", True)
        super().__init__(**kwargs)

    def routes(self) -> Iterable[Route]:
        return (Route("GET", "/version", self.version),)

    def not_found(self, request: RecordedRequest) -> Reply:
        return status(404, "NotFound", "the server could not find the requested resource")

    def authenticate(self, request: RecordedRequest) -> str | None:
        """The user name, or None: a presented token is judged alone, as the API server does."""
        token = bearer_token(request)
        if token is not None:
            return "system:serviceaccount:platform:terraform" if token == self.token else None
        return request.client_common_name

    def version(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        user = self.authenticate(request)
        if user is None:
            return status(401, "Unauthorized", "Unauthorized")
        if self.forbid:
            return status(403, "Forbidden", f'forbidden: User "{user}" cannot get path "/version"')
        return json_reply(200, VERSION_INFO)
