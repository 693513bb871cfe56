"""connections/providers/run.py and aws/run.py without a database: session names, refresh intervals, the
atomic token-file rewrite, and the loopback endpoint's refusals and renewals (with a stand-in for STS)."""

from __future__ import annotations

import os
import stat
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from connections.providers.aws import run as aws_run
from connections.providers.base import MaterializeError
from connections.providers.run import RefreshingFile, RunContext, session_label


def test_session_label_keeps_sts_characters_and_length():
    assert session_label("run-", "42@network core/prod") == "run-42@network-core-prod"
    assert session_label("run-", "x" * 100) == "run-" + "x" * 60
    assert len(session_label("", "")) == 2


@pytest.mark.parametrize(("lifetime", "margin", "interval"), [(3600, 300, 3300), (3, 1, 2), (10, 20, 5), (1, 5, 1)])
def test_refresh_interval(lifetime, margin, interval):
    ctx = RunContext("acme", "c", "r", token_lifetime=lifetime, refresh_margin=margin)
    assert ctx.refresh_interval == interval


def test_refreshing_file_rewrites_atomically_and_stops(tmp_path):
    path = tmp_path / "token"
    path.write_text("first")
    os.chmod(path, 0o600)
    counter = iter(range(1000))
    refresher = RefreshingFile("token", lambda: f"token-{next(counter)}", interval=1)
    refresher.start(str(tmp_path))
    time.sleep(2.5)
    refresher.stop()
    seen = path.read_text()
    assert seen.startswith("token-") and refresher.refreshed >= 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token"]  # no temporary file left behind
    time.sleep(1.2)
    assert path.read_text() == seen  # stopped for good


def test_refreshing_file_survives_a_failed_refresh(tmp_path, caplog):
    (tmp_path / "token").write_text("old")
    calls = []

    def produce() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("secret-in-the-message")
        return "new"

    refresher = RefreshingFile("token", produce, interval=1)
    refresher.start(str(tmp_path))
    time.sleep(2.6)
    refresher.stop()
    assert (tmp_path / "token").read_text() == "new"
    assert "secret-in-the-message" not in caplog.text and "RuntimeError" in caplog.text


class FakeSts:
    """Stands in for boto3's STS client: sessions that last `seconds`."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.calls: list[dict] = []

    def assume_role(self, **params):
        self.calls.append(params)
        n = len(self.calls)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIAFAKE{n:012d}",
                "SecretAccessKey": f"secret-{n}-" + "s" * 30,
                "SessionToken": f"token-{n}-" + "t" * 30,
                "Expiration": datetime.now(UTC) + timedelta(seconds=self.seconds),
            }
        }


def endpoint(monkeypatch, *, seconds: int, margin: int):
    sts = FakeSts(seconds)
    monkeypatch.setattr(aws_run.clients, "session_client", lambda *a, **k: sts)
    seen: list[str] = []
    ctx = RunContext("acme", "aws-x", "7", external_id="ext-1", refresh_margin=margin, on_secret=seen.append)
    role = aws_run.AssumedRole(ctx, region="us-east-1", role_arn="arn:aws:iam::123456789012:role/R", duration=900)
    service = aws_run.ContainerCredentialsEndpoint(role)
    return sts, seen, service


def test_the_endpoint_answers_only_with_its_token_and_renews_near_expiry(monkeypatch, tmp_path):
    sts, seen, service = endpoint(monkeypatch, seconds=900, margin=898)
    env = service.start(str(tmp_path))
    try:
        url, token = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
        assert url.startswith("http://127.0.0.1:") and token in seen
        assert requests.get(url, timeout=5).status_code == 403
        assert requests.get(url, headers={"Authorization": "wrong"}, timeout=5).status_code == 403
        guessed = url.rsplit("/", 1)[0] + "/guess"
        assert requests.get(guessed, headers={"Authorization": token}, timeout=5).status_code == 403
        first = requests.get(url, headers={"Authorization": token}, timeout=5).json()
        again = requests.get(url, headers={"Authorization": token}, timeout=5).json()
        assert first == again and len(sts.calls) == 1  # still fresh: no new AssumeRole
        time.sleep(2.2)
        renewed = requests.get(url, headers={"Authorization": token}, timeout=5).json()
        assert renewed["AccessKeyId"] != first["AccessKeyId"] and len(sts.calls) == 2
        assert renewed["Expiration"].endswith("Z") and renewed["SecretAccessKey"] in seen
        assert sts.calls[0] == {"RoleArn": "arn:aws:iam::123456789012:role/R", "RoleSessionName": "run-7",
                                "ExternalId": "ext-1", "DurationSeconds": 900}  # fmt: skip
    finally:
        service.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    service.stop()  # twice is fine


def test_concurrent_requests_assume_once(monkeypatch, tmp_path):
    sts, _seen, service = endpoint(monkeypatch, seconds=3600, margin=300)
    env = service.start(str(tmp_path))
    try:
        headers = {"Authorization": env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}
        url = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
        threads = [threading.Thread(target=requests.get, args=(url,), kwargs={"headers": headers}) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        service.stop()
    assert len(sts.calls) == 1


def test_assume_role_needs_an_external_id():
    ctx = RunContext("acme", "aws-x", "7", external_id="")
    with pytest.raises(MaterializeError, match="no External ID"):
        aws_run.AssumedRole(ctx, region="us-east-1", role_arn="arn:aws:iam::123456789012:role/R", duration=900)
