"""A throwaway redis-server for tests: loopback only, nothing written to disk.

Started in the foreground as our own child (not daemonized), on a free port, in a
directory of the test's own, with persistence off (`--save ''`, `--appendonly no`). It
counts as ready once it answers PING. `restart()` brings it back on the same port, empty,
as after a crash: for fault tests (from a coroutine: `await asyncio.to_thread(...)`).
A missing redis-server fails the test, never skips it: the Redis store must be proven.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.ports import free_port

PORT_TAKEN = "Address already in use"




def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.25) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:  # refused, reset or timed out: not (yet) there
        return False


class RedisServer:
    """One redis-server process; `url` stays the same across `restart()`."""

    def __init__(self, binary: str, workdir: Path, port: int) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.log_file = workdir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def start(self, timeout: float = 10.0) -> str | None:
        """Start it and wait for PING; None once ready, otherwise why not (it is stopped)."""
        assert not self.running, "redis-server is running already"
        self.log_file.unlink(missing_ok=True)
        self._proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--dir", str(self.workdir), "--logfile", str(self.log_file),
             "--protected-mode", "yes"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                why = PORT_TAKEN if PORT_TAKEN in self.log() else "exited"
                return f"redis-server {why} (code {self._proc.returncode})"
            if answers_ping(self.port):
                return None
            time.sleep(0.01)
        self.stop()
        return f"no PING answer within {timeout:.0f} s"

    def stop(self) -> None:
        """SIGTERM (it saves nothing: persistence is off), SIGKILL if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Die at once, as in a crash."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same port (empty: nothing was persisted)."""
        self.stop()
        why = self.start()
        if why is not None:
            pytest.fail(f"redis-server did not come back on port {self.port}: {why}\n"
                        + self.log()[-2000:], pytrace=False)


@contextmanager
def running_redis(workdir: Path) -> Iterator[RedisServer]:
    """Start redis-server on a free port, yield it once it answers PING, stop it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed, and the Redis store tests need a real "
                    "one: `apt-get install redis-server` (./dev test does this)", pytrace=False)
    workdir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for attempt in range(3):  # a port taken between choosing and binding: try another
        server = RedisServer(binary, workdir, free_port())
        why = server.start()
        if why is None:
            try:
                yield server
            finally:
                server.stop()
            return
        failures.append(f"attempt {attempt + 1} on port {server.port}: {why}")
        if PORT_TAKEN not in why:
            break
    pytest.fail("redis-server did not come up:\n" + "\n".join(failures)
                + "\n--- redis.log ---\n" + server.log()[-2000:], pytrace=False)
