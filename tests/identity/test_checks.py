"""System checks of the OIDC issuer (identity/checks.py): an issuer the platform cannot serve is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from identity.checks import check_issuer_url

ROOT = Path(__file__).resolve().parents[2]


def ids(settings, issuer: str, debug: bool = False) -> list[str]:
    settings.OIDC_ISSUER_URL = issuer
    settings.DEBUG = debug
    return [message.id for message in check_issuer_url()]


@pytest.mark.parametrize("issuer", ["https://platform.example.com", "https://platform.example.com/"])
def test_https_issuer_at_the_root_is_accepted(settings, issuer):
    assert ids(settings, issuer) == []


def test_http_issuer_is_an_error_with_debug_off_only(settings):
    assert ids(settings, "http://127.0.0.1:8000") == ["identity.E002"]
    assert ids(settings, "http://127.0.0.1:8000", debug=True) == []


@pytest.mark.parametrize("issuer", ["https://platform.example.com/oidc", "https://platform.example.com/tenant/acme/"])
def test_issuer_path_the_platform_does_not_route_is_an_error(settings, issuer):
    assert ids(settings, issuer) == ["identity.E003"]
    assert ids(settings, issuer, debug=True) == ["identity.E003"]


def test_issuer_path_under_the_script_prefix_is_accepted(settings):
    settings.FORCE_SCRIPT_NAME = "/platform"
    assert ids(settings, "https://example.com/platform") == []


@pytest.mark.parametrize(
    "issuer", ["", "platform.example.com", "ftp://platform.example.com", "https://x.example.com/?a=1", "https://"]
)
def test_malformed_issuer_is_an_error(settings, issuer):
    assert ids(settings, issuer) == ["identity.E001"]


def test_check_command_refuses_an_http_issuer_in_production(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "x7!Qm2@Lp9#Vr4$Tz8%Wk3^Hn6&Bd1*Fc5(Gj0)Ys-Ua_Ie+Ox=Rq~Pl",
        "CONNECTIONS_KEYS": "k1:" + "A" * 43 + "=",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOCAL_STATE_DIR": str(tmp_path / "local"),
        "OIDC_ISSUER_URL": "http://platform.example.com/oidc",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "identity.E002" in result.stderr and "identity.E003" in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/.well-known/jwks.json"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_to_the_documents_are_405_even_with_csrf_checks(path, method):
    """A real client (CSRF enforced, no cookie) gets 405 Method Not Allowed, not the CSRF check's 403."""
    response = Client(enforce_csrf_checks=True).generic(method, path, "{}", content_type="application/json")
    assert response.status_code == 405
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
