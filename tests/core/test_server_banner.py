"""No `Server` banner from gunicorn (config/gunicorn.py): a real gunicorn on loopback, started as README's
Production section says, answers without the header (and without the config file, it does send it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_and_get(tmp_path: Path, *config: str) -> dict[str, str]:
    port = free_port()
    env = {**os.environ, "LOCAL_STATE_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = [sys.executable, "-m", "gunicorn", *config, "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    process = subprocess.Popen(
        [*command, "config.wsgi"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    return {k.lower(): v for k, v in response.headers.items()}
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    errors = process.stderr.read().decode() if process.poll() is not None else ""
                    pytest.fail("gunicorn did not answer: " + errors)
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_gunicorn_with_the_project_config_sends_no_server_header(tmp_path):
    headers = serve_and_get(tmp_path, "-c", "python:config.gunicorn")
    assert "server" not in headers
    assert "content-security-policy" in headers and "x-request-id" in headers  # the app still answered


def test_gunicorn_without_it_would_send_one(tmp_path):
    """The control: the test above would see the banner if the config did nothing."""
    headers = serve_and_get(tmp_path, "-c", "/dev/null")
    assert headers["server"].startswith("gunicorn")
