"""Settings are declared once: every setting the code reads is declared (with its default) in
config/settings.py, and every environment variable settings.py reads is documented in the README."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import global_settings

ROOT = Path(__file__).resolve().parent.parent
APPS = ("core", "accounts", "identity", "connections", "vpn", "finops", "projects")
THIRD_PARTY_PREFIXES = ("CELERY_", "AXES_", "REST_FRAMEWORK", "SPECTACULAR_", "GUARDIAN_")
READS = (
    re.compile(r"\bsettings\.([A-Z][A-Z0-9_]+)"),
    re.compile(r"getattr\(settings, \"([A-Z][A-Z0-9_]+)\""),
    re.compile(r"\bsetting\(\"([A-Z][A-Z0-9_]+)\"\)"),  # connections.providers.config
)


def _declared() -> set[str]:
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    names = set()
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _read_by_code() -> set[str]:
    names: set[str] = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                text = path.read_text()
                for pattern in READS:
                    names |= set(pattern.findall(text))
    return names


def test_every_setting_the_code_reads_is_declared_in_settings_py() -> None:
    own = {n for n in _read_by_code() if not hasattr(global_settings, n) and not n.startswith(THIRD_PARTY_PREFIXES)}
    assert own, "the scan found no setting at all: the patterns are broken"
    assert sorted(own - _declared()) == []


def test_every_environment_variable_of_settings_py_is_in_the_readme() -> None:
    source = (ROOT / "config" / "settings.py").read_text()
    variables = set(re.findall(r"env(?:\.[a-z_]+)?\(\"([A-Z][A-Z0-9_]+)\"", source))
    variables |= set(re.findall(r"os\.environ\.get\(\"([A-Z][A-Z0-9_]+)\"", source))
    readme = (ROOT / "README.md").read_text()
    assert len(variables) > 20
    assert sorted(v for v in variables if f"`{v}`" not in readme) == []


def test_code_reads_settings_without_a_second_default() -> None:
    """`getattr(settings, "X", default)` would hide a missing declaration behind a second default."""
    offenders = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"getattr\(settings, \"[A-Z_0-9]+\", ", line) and "# not a default:" not in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
