"""A real coturn on loopback for one test: the relay the broker's TURN credentials are for.

Configured like production (docs/coturn.md: shared-secret credentials, a realm, no CLI)
except that it listens and relays on 127.0.0.1 only and, because every test peer sits on
loopback, lets loopback addresses be relay targets. It counts as ready once it answers a
STUN binding request over UDP and over TCP, and it is stopped with SIGTERM.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REALM = "turn.test.invalid"
STUN_MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST, BINDING_SUCCESS = 0x0001, 0x0101
PORT_TAKEN = "its listening port was taken"


@dataclass(frozen=True)
class Coturn:
    """A running turnserver: where it listens, its shared secret, where it may relay from."""

    port: int
    secret: str
    realm: str
    relay_ports: range  # every relayed address coturn hands out lies in this range
    log_file: Path

    def url(self, transport: str = "udp") -> str:
        return f"turn:127.0.0.1:{self.port}?transport={transport}"

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1: coturn listens on both."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no port free for both TCP and UDP on 127.0.0.1")


def relay_window(size: int = 200) -> range:
    """Relay ports below the kernel's ephemeral range (32768+), so that no port the OS
    hands out (our listener, the peers' sockets) can be mistaken for a relayed one; coturn
    skips a port in the window that happens to be taken."""
    low = random.randrange(20000, 32000 - size, size)
    return range(low, low + size)


def config(port: int, secret: str, realm: str, relay: range, workdir: Path) -> str:
    """turnserver.conf for the test: docs/coturn.md's options on loopback, without TLS and
    the deny list, plus `allow-loopback-peers` (the only peers in a test are on 127.0.0.1)."""
    return "\n".join([
        "listening-ip=127.0.0.1",
        "relay-ip=127.0.0.1",
        f"listening-port={port}",
        f"min-port={relay.start}",
        f"max-port={relay.stop - 1}",
        "no-tls",
        "no-dtls",
        "use-auth-secret",
        f"static-auth-secret={secret}",
        f"realm={realm}",
        "stale-nonce=600",
        "fingerprint",
        "user-quota=10",
        "total-quota=1200",
        "max-bps=500000",
        "no-tcp-relay",
        "no-multicast-peers",
        "allow-loopback-peers",
        "no-cli",
        "no-rfc5780",
        "no-stun-backward-compatibility",
        "no-software-attribute",
        *private_files(workdir),
        "",
    ])


def private_files(workdir: Path) -> list[str]:
    """Options that keep a test's coturn to its own directory, logging every request."""
    return [
        "verbose",
        f"log-file={workdir / 'turnserver.log'}",
        "simple-log",
        "no-stdout-log",
        f"pidfile={workdir / 'turnserver.pid'}",
        f"userdb={workdir / 'turndb'}",  # never the system's /var/lib/turn/turndb
    ]


MakeConfig = Callable[[int, str, str, range, Path], str]


def answers_stun(port: int, kind: socket.SocketKind) -> bool:
    """Whether a STUN server answers a binding request on 127.0.0.1:port (UDP or TCP)."""
    transaction = os.urandom(12)
    request = struct.pack("!HHI", BINDING_REQUEST, 0, STUN_MAGIC_COOKIE) + transaction
    try:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.settimeout(0.25)
            sock.connect(("127.0.0.1", port))
            sock.sendall(request)
            reply = sock.recv(2048)
    except OSError:  # refused, reset or timed out: not (yet) there
        return False
    return (len(reply) >= 20 and struct.unpack("!H", reply[:2])[0] == BINDING_SUCCESS
            and reply[8:20] == transaction)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running_coturn(workdir: Path, secret: str, realm: str = REALM,
                   ready_timeout: float = 20.0, make_config: MakeConfig = config
                   ) -> Iterator[Coturn]:
    """Start turnserver, wait until it answers, yield it, stop it. `make_config(port,
    secret, realm, relay ports, workdir)` writes its turnserver.conf.

    A missing turnserver fails the test (never a skip: the relay must be proven). A port
    taken between choosing and binding makes coturn retry forever; we notice that in its
    log and start again on fresh ports.
    """
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("turnserver (coturn) is not installed, and the TURN relay tests need a "
                    "real one: `apt-get install coturn` (./dev test does this)", pytrace=False)
    workdir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for attempt in range(3):
        port, relay = free_port(), relay_window()
        server = Coturn(port, secret, realm, relay, workdir / "turnserver.log")
        server.log_file.unlink(missing_ok=True)
        conf = workdir / "turnserver.conf"
        conf.write_text(make_config(port, secret, realm, relay, workdir))
        with (workdir / f"turnserver.{attempt}.out").open("wb") as out:
            proc = subprocess.Popen([binary, "-c", str(conf)], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)
        try:
            why = _wait_ready(proc, server, ready_timeout)
            if why is None:
                yield server
                return
            failures.append(f"attempt {attempt + 1} on port {port}: {why}")
            if why != PORT_TAKEN:
                break
        finally:
            _stop(proc)
    pytest.fail("coturn did not come up:\n" + "\n".join(failures)
                + "\n--- last turnserver.log ---\n" + server.log()[-3000:], pytrace=False)


def _wait_ready(proc: subprocess.Popen[bytes], server: Coturn, timeout: float) -> str | None:
    """None once it answers STUN on UDP and TCP; otherwise why it will not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"turnserver exited with {proc.returncode}"
        if "Cannot bind" in server.log():
            return PORT_TAKEN
        if (answers_stun(server.port, socket.SOCK_DGRAM)
                and answers_stun(server.port, socket.SOCK_STREAM)):
            return None
        time.sleep(0.05)
    return f"no STUN answer within {timeout:.0f} s"
