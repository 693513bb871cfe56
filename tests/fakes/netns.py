"""A peer on a private network: a Linux network namespace joined to this host by a veth pair.

The listener inside has a private address (10.x) that is *not* one of this host's own addresses, which
is what an on-prem hypervisor behind a VPN looks like to the platform. Tests use it to prove that the
SSRF guard keeps member-controlled settings away from private networks: the peer counts every TCP
connection it accepts, so "nothing arrived" is observable (and a positive control shows it can arrive).

Needs root and iproute2 (`ip netns`), which CI has; a missing capability fails loudly, it never skips.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_counter = itertools.count()

# A tiny TCP server run inside the namespace: answers HTTP 200 on `open_port` (plain HTTP) and appends
# one line per accepted connection to the log file, so the test can count connections from outside.
_SERVER = textwrap.dedent(
    """
    import socket, sys, threading
    host, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port)); server.listen(16)
    open(log, "a").close()
    print("ready", flush=True)
    def serve(conn):
        with conn:
            conn.settimeout(2)
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok")
            except OSError:
                pass
    while True:
        conn, peer = server.accept()
        with open(log, "a") as fh:
            fh.write(f"{peer[0]}\\n")
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
    """
)


@dataclass
class PrivatePeer:
    """A listener at `address:port` inside its own namespace; `subnet` is the veth network."""

    address: str
    port: int
    closed_port: int
    subnet: str
    log: Path

    @property
    def connections(self) -> int:
        """TCP connections the peer accepted so far."""
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0


def _ip(*args: str, namespace: str | None = None) -> None:
    command = ["ip", *args] if namespace is None else ["ip", "netns", "exec", namespace, "ip", *args]
    subprocess.run(command, check=True, capture_output=True, text=True)


@contextmanager
def private_peer(tmp_path: Path, port: int = 8006) -> Iterator[PrivatePeer]:
    """A namespace 10.213.<n>.0/24 with the peer at .2 and this host at .1, torn down afterwards."""
    n = (os.getpid() + next(_counter)) % 200 + 20
    namespace, host_if, peer_if = f"ccp-peer-{n}", f"ccpv{n}h", f"ccpv{n}p"
    subnet, host_address, peer_address = f"10.213.{n}.0/24", f"10.213.{n}.1", f"10.213.{n}.2"
    log = tmp_path / f"peer-{n}.log"
    _ip("netns", "add", namespace)
    process = None
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        _ip("link", "set", peer_if, "netns", namespace)
        _ip("addr", "add", f"{host_address}/24", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("addr", "add", f"{peer_address}/24", "dev", peer_if, namespace=namespace)
        _ip("link", "set", peer_if, "up", namespace=namespace)
        _ip("link", "set", "lo", "up", namespace=namespace)
        process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", _SERVER, peer_address, str(port), str(log)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the private peer did not start: {process.stderr.read() if process.stderr else ''}")
        yield PrivatePeer(peer_address, port, port + 1, subnet, log)
    finally:
        if process is not None:
            process.kill()
            process.wait(timeout=5)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        time.sleep(0.05)
