"""A real strongSwan daemon for tests: Debian's charon-systemd in its own network namespace and config dir.

Each daemon gets a private strongswan.conf (via STRONGSWAN_CONF) whose vici socket lives in a temporary
directory, so no systemd, no /etc/swanctl and no other daemon is involved; `swanctl --uri` talks to it.
Running it inside a network namespace keeps every packet it sends on this machine (a namespace with only
loopback for the load test, a veth pair between two namespaces for the IKE test).

Needs root, iproute2 and the Debian packages charon-systemd and strongswan-swanctl (.ci/run and
`make test` install them): anything missing fails loudly, it never skips.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

CHARON = "/usr/sbin/charon-systemd"
_counter = itertools.count()

_STRONGSWAN_CONF = """\
charon-systemd {{
    load_modular = yes
    install_routes = no
    plugins {{
        include /etc/strongswan.d/charon/*.conf
        vici {{
            socket = {uri}
        }}
    }}
}}
"""


def require_strongswan() -> None:
    """Fail (not skip) with the fix when the environment cannot run the daemon."""
    missing = [tool for tool in (CHARON, "swanctl", "ip") if not shutil.which(tool)]
    if missing:
        pytest.fail(f"missing {missing}: apt-get install charon-systemd strongswan-swanctl iproute2 (see .ci/run)")
    if os.geteuid() != 0:
        pytest.fail("the strongSwan tests need root (network namespaces, IKE ports)")


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)


@dataclass
class Charon:
    """One running daemon: `swanctl(...)` returns its combined output (swanctl exits 0 even on failure)."""

    namespace: str
    workdir: Path
    uri: str

    def swanctl(self, *args: str) -> str:
        result = subprocess.run(
            ["swanctl", *args, "--uri", self.uri], capture_output=True, text=True, timeout=30, check=False
        )
        return result.stdout + result.stderr

    def load(self, text: str, filename: str = "generated.conf") -> str:
        """Put `text` into conf.d/ under a swanctl.conf that includes it (as /etc/swanctl does) and load all."""
        conf_d = self.workdir / "conf.d"
        conf_d.mkdir(exist_ok=True)
        for old in conf_d.iterdir():
            old.unlink()
        (conf_d / filename).write_text(text, encoding="utf-8")
        main = self.workdir / "swanctl.conf"
        main.write_text(f"include {conf_d}/*.conf\n")
        return self.swanctl("--load-all", "--file", str(main))


@contextmanager
def namespace(prefix: str) -> Iterator[str]:
    """A fresh network namespace with loopback up, deleted afterwards (with its interfaces)."""
    name = f"{prefix}-{os.getpid() % 10000}-{next(_counter)}"
    _run("ip", "netns", "add", name)
    try:
        _run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@contextmanager
def linked(left: str, left_addresses: list[str], right: str, right_addresses: list[str]) -> Iterator[None]:
    """A veth pair between two namespaces, with /24 addresses on each end."""
    n = next(_counter)
    a, b = f"ccpss{os.getpid() % 1000}a{n}", f"ccpss{os.getpid() % 1000}b{n}"
    _run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
    try:
        for ifname, ns, addresses in ((a, left, left_addresses), (b, right, right_addresses)):
            _run("ip", "link", "set", ifname, "netns", ns)
            for address in addresses:
                _run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", ifname)
            _run("ip", "-n", ns, "link", "set", ifname, "up")
        yield
    finally:
        subprocess.run(["ip", "link", "del", a], capture_output=True, check=False)


@contextmanager
def charon(ns: str) -> Iterator[Charon]:
    """charon-systemd running inside namespace `ns`; stopped (by its own pid) afterwards."""
    # A short path: unix socket paths are limited to 107 bytes, pytest's tmp_path can be longer.
    workdir = Path(tempfile.mkdtemp(prefix="ccp-charon-", dir="/tmp"))
    uri = f"unix://{workdir}/charon.vici"
    conf = workdir / "strongswan.conf"
    conf.write_text(_STRONGSWAN_CONF.format(uri=uri))
    log = (workdir / "charon.out").open("w")
    process = subprocess.Popen(
        ["ip", "netns", "exec", ns, CHARON],
        env={**os.environ, "STRONGSWAN_CONF": str(conf)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while not (workdir / "charon.vici").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"charon-systemd did not start: {(workdir / 'charon.out').read_text()[-2000:]}")
            time.sleep(0.05)
        yield Charon(ns, workdir, uri)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
