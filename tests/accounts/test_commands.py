"""Management commands and deployment settings, run as a user would run them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import Environment, Membership, Organization, User

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_seed_demo_is_idempotent(capsys):
    call_command("seed_demo", password="demo-pass-123")
    call_command("seed_demo", password="demo-pass-456")
    org = Organization.objects.get(slug="acme")
    assert org.plan == "enterprise"
    assert sorted(Environment.objects.filter(org=org).values_list("slug", flat=True)) == [
        "development",
        "production",
        "staging",
    ]
    roles = dict(Membership.objects.filter(org=org).values_list("user__email", "role"))
    assert roles == {
        "viewer@acme.test": "viewer",
        "user@acme.test": "user",
        "provisioner@acme.test": "provisioner",
        "admin@acme.test": "admin",
    }
    assert User.objects.get(email="admin@acme.test").check_password("demo-pass-456")


@pytest.mark.django_db
def test_seed_demo_prints_generated_password(capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out
    password = out.strip().splitlines()[-1].removeprefix("Password: ")
    assert len(password) >= 12
    assert User.objects.get(email="viewer@acme.test").check_password(password)


@pytest.mark.django_db
def test_seed_demo_names_the_address_make_run_serves(capsys):
    call_command("seed_demo", password="demo-pass-123", base_url="http://127.0.0.1:8123/")
    out = capsys.readouterr().out
    assert "Log in at http://127.0.0.1:8123/login/" in out and ":8000" not in out


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_in_production_settings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "x7!Qm2@Lp9#Vr4$Tz8%Wk3^Hn6&Bd1*Fc5(Gj0)Ys-Ua_Ie+Ox=Rq~Pl",
        "ALLOWED_HOSTS": "platform.example.com",
        "CONNECTIONS_KEYS": "k1:" + "A" * 43 + "=",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOCAL_STATE_DIR": str(tmp_path / "local"),
        "EMAIL_URL": "smtp+tls://platform:pw@smtp.example.com:587",
        "CACHE_URL": "redis://127.0.0.1:6379/4",
        "OIDC_ISSUER_URL": "https://platform.example.com",  # identity.E002: https with DEBUG off
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = _run(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key(tmp_path):
    env = {**os.environ, "DEBUG": "false", "LOCAL_STATE_DIR": str(tmp_path)}
    env.pop("SECRET_KEY", None)
    result = _run(["check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in the environment when DEBUG is off." in result.stderr


def test_development_key_ring_is_generated_once(tmp_path):
    env = {**os.environ, "DEBUG": "true", "LOCAL_STATE_DIR": str(tmp_path)}
    env.pop("CONNECTIONS_KEYS", None)
    env.pop("SECRET_KEY", None)
    assert _run(["check"], env).returncode == 0
    ring = (tmp_path / "connections_keys").read_text()
    assert ring.startswith("dev1:")
    assert oct((tmp_path / "connections_keys").stat().st_mode & 0o777) == "0o600"
    assert _run(["check"], env).returncode == 0
    assert (tmp_path / "connections_keys").read_text() == ring


@pytest.mark.django_db(transaction=True)
def test_verify_audit_command_line_exit_codes(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "LOCAL_STATE_DIR": str(tmp_path)}
    assert _run(["migrate", "--noinput"], env).returncode == 0
    assert _run(["seed_demo", "--password", "demo-pass-123"], env).returncode == 0
    ok = _run(["verify_audit"], env)
    assert ok.returncode == 0 and "intact" in ok.stdout

    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        db.execute("UPDATE accounts_auditevent SET actor_label = 'mallory' WHERE seq = 2")
    broken = _run(["verify_audit"], env)
    assert broken.returncode == 1
    assert "Audit chain broken: organization 'acme': event id=" in broken.stderr and "(#2)" in broken.stderr
