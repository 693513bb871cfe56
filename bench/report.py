"""Run the benches and write their rows into the README's benchmark table.

Each bench prints its rows as lines starting with ``README| `` (see bench/common.py). This runs the
named benches (default: all but itself), shows their output as it comes, and replaces the table
between ``<!-- bench:table:start -->`` and ``<!-- bench:table:end -->`` in README.md, keeping the
rows of benches that were not run. A bench that fails leaves the README untouched.

    python bench/report.py [runs health_sweep ...] [--dry-run]
    python bench/http_load.py --repetitions 5 | tee /tmp/http_load.log
    python bench/report.py --from-log http_load=/tmp/http_load.log    # rows of a run made with other options
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROW_PREFIX

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:table:start -->", "<!-- bench:table:end -->"
HEADER = (
    "| benchmark | figures (min / median / max over repetitions; ratios to a baseline measured in the same run) |\n"
    "|---|---|"
)
SKIP = {"report", "common", "__init__"}


def bench_of(row: str) -> str:
    match = re.match(r"\| `bench/([a-z_]+)\.py`", row)
    return match.group(1) if match else ""


def run(name: str) -> list[str]:
    """Run one bench with the venv's Python, echoing its output; its README rows."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / f"{name}.py")], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    rows = []
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.startswith(ROW_PREFIX):
            rows.append(line[len(ROW_PREFIX) :].rstrip("\n"))
    if process.wait() != 0:
        raise SystemExit(f"bench/{name}.py failed (exit {process.returncode}); README.md left as it was.")
    if not rows:
        raise SystemExit(f"bench/{name}.py printed no README row; README.md left as it was.")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    available = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem not in SKIP)
    parser.add_argument("benches", nargs="*", metavar="BENCH", help="any of: " + ", ".join(available))
    parser.add_argument("--dry-run", action="store_true", help="Print the table instead of writing README.md.")
    parser.add_argument(
        "--from-log", action="append", default=[], metavar="BENCH=FILE",
        help="take BENCH's rows from the saved output of a run (e.g. with more repetitions) instead of running it",
    )  # fmt: skip
    options = parser.parse_args()
    logged = dict(item.split("=", 1) for item in options.from_log if "=" in item)
    if len(logged) != len(options.from_log) or set(logged) - set(available):
        parser.error(f"--from-log takes BENCH=FILE with BENCH one of: {', '.join(available)}")
    names = options.benches or ([] if logged else available)
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"no such bench: {', '.join(unknown)} (any of: {', '.join(available)})")
    readme = (ROOT / "README.md").read_text()
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md has no {START} ... {END} markers.")
    head, rest = readme.split(START, 1)
    old_table, tail = rest.split(END, 1)
    kept = {bench_of(line): [] for line in old_table.splitlines() if bench_of(line)}
    for line in old_table.splitlines():
        if bench_of(line):
            kept[bench_of(line)].append(line)
    for name, path in logged.items():
        lines = Path(path).read_text().splitlines()
        rows = [line[len(ROW_PREFIX) :] for line in lines if line.startswith(ROW_PREFIX)]
        if not rows:
            raise SystemExit(f"{path} holds no README row of bench/{name}.py; README.md left as it was.")
        kept[name] = rows
    for name in names:
        print(f"== bench/{name}.py", flush=True)
        kept[name] = run(name)
    rows = [row for name in sorted(kept) for row in kept[name]]
    table = "\n".join([HEADER, *rows])
    if options.dry_run:
        print(table)
        return
    (ROOT / "README.md").write_text(f"{head}{START}\n{table}\n{END}{tail}")
    print(f"README.md: {len(rows)} row(s) written.")


if __name__ == "__main__":
    main()
