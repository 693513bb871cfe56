"""The layout holds: no import cycle between modules or apps, layers only import downwards, no provider
named outside `connections/providers/`, and a function-level import only where it is the documented way.

The layer contracts themselves live in pyproject.toml ([tool.importlinter]) and also run as
`lint-imports` in CI; these tests make the same promises fail in `make test`.
"""

from __future__ import annotations

import ast
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from connections.providers import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
# Every first-party package, lowest layer last (what may import what: see pyproject's importlinter layers).
APPS = ("config", "core", "accounts", "identity", "connections", "vpn", "finops", "projects")
LATE_IMPORT_MARK = "# late import:"


def _python_files() -> list[Path]:
    """First-party, non-test Python files (migrations are generated and import nothing of ours)."""
    files = [ROOT / "manage.py"]
    for app in APPS:
        files += [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]
    return sorted(files)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    sys.path.insert(0, str(ROOT))
    try:
        # Imports under `if TYPE_CHECKING:` never run, so they cannot form a runtime cycle.
        return grimp.build_graph(*APPS, include_external_packages=False, exclude_type_checking_imports=True)
    finally:
        sys.path.remove(str(ROOT))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (or a self-loop): Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_planted_cycle() -> None:
    """The check below can fail: a two-module and a three-module cycle are both reported."""
    edges = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert _cycles(edges) == [["a", "b"], ["c", "d", "e"]]


def test_no_import_cycle_between_modules(graph: grimp.ImportGraph) -> None:
    # A package's own __init__ importing its submodules is how packages expose their API, not a cycle;
    # a submodule importing its parent package's __init__ back would be, and is kept.
    edges = {
        module: {
            imported
            for imported in graph.find_modules_directly_imported_by(module)
            if not imported.startswith(module + ".")
        }
        for module in graph.modules
    }
    assert _cycles(edges) == []


def test_no_import_cycle_between_apps(graph: grimp.ImportGraph) -> None:
    edges: dict[str, set[str]] = {app: set() for app in APPS}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            source, target = module.split(".")[0], imported.split(".")[0]
            if source != target:
                edges[source].add(target)
    assert _cycles(edges) == []
    assert "config" not in set().union(*(edges[app] for app in APPS if app != "config")), "only config imports config"
    assert edges["core"] == set(), "core imports no app of the project"


def test_function_level_imports_are_the_documented_exceptions() -> None:
    """An import inside a function is allowed only with a `# late import: <why>` comment on its line or the
    line above (e.g. AppConfig.ready, manage.py, a module that must load without an optional library)."""
    undocumented = []
    for path in _python_files():
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    here = lines[inner.lineno - 1]
                    above = lines[inner.lineno - 2] if inner.lineno > 1 else ""
                    if LATE_IMPORT_MARK not in here and LATE_IMPORT_MARK not in above:
                        undocumented.append(f"{path.relative_to(ROOT)}:{inner.lineno}: {here.strip()}")
    assert undocumented == []


def test_every_module_imports_in_a_fresh_interpreter_in_random_order() -> None:
    """An import-time cycle shows up as an ImportError for some order; three shuffled orders, seeds printed."""
    modules = [_module_name(p) for p in _python_files() if p.name != "manage.py"]
    for seed in (random.randrange(1 << 30) for _ in range(3)):
        order = modules[:]
        random.Random(seed).shuffle(order)
        code = (
            "import django, importlib, sys; django.setup()\n"
            f"for name in {order!r}:\n"
            "    importlib.import_module(name)\n"
        )
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"seed {seed}: {result.stderr[-2000:]}"


PROVIDER_WORDS = re.compile(r"\b(aws|azure)\b", re.I)


def test_no_module_outside_providers_names_a_provider_in_code() -> None:
    """Provider names may appear outside `connections/providers/` only in comments, docstrings and
    user-facing strings (help texts, examples), never as identifiers, imports or compared values."""
    offenders = []
    for path in _python_files():
        relative = path.relative_to(ROOT)
        # settings.py declares every deployment setting (PLATFORM_AWS_ACCOUNT_ID, AZURE_CA_BUNDLE...) by design.
        if relative.parts[:2] == ("connections", "providers") or relative == Path("config/settings.py"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Name | ast.Attribute | ast.alias | ast.FunctionDef | ast.ClassDef):
                name = getattr(node, "id", None) or getattr(node, "attr", None) or getattr(node, "name", "")
                if PROVIDER_WORDS.search(str(name).replace("_", " ")):
                    offenders.append(f"{relative}:{node.lineno}: {name}")
            elif isinstance(node, ast.Compare):
                for comparator in (node.left, *node.comparators):
                    if isinstance(comparator, ast.Constant) and comparator.value in ("aws", "azure"):
                        offenders.append(f"{relative}:{node.lineno}: compares with {comparator.value!r}")
            elif (
                isinstance(node, ast.keyword)
                and node.arg in ("provider", "provider_code")
                and isinstance(node.value, ast.Constant)
                and node.value.value in REGISTRY
            ):
                offenders.append(f"{relative}:{node.value.lineno}: {node.arg}={node.value.value!r}")
    assert offenders == []
