"""A throwaway PostgreSQL server for a test session: what the PostgreSQL contact log runs on.

One server per pytest session (initdb and start take about half a second), one fresh
database per test (`CREATE DATABASE` takes milliseconds). The server listens on a unix
socket only, in its own temporary directory: no TCP port to find free or to lose in a race,
nothing reachable from the network, and `trust` authentication is safe because only the
server's user (and root) may enter that directory. Durability is switched off (`fsync=off`):
the tests kill brokers, never the database server.

As root (containers, CI), PostgreSQL refuses to run, so the server runs as the `postgres`
system user that Debian's package creates; otherwise it runs as the current user. Its
parent-death signal is set, so a test run killed outright does not leave it running.
Missing binaries FAIL the tests that need them, with what to install: these tests are
never skipped.
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
import pytest

SUPERUSER = "postgres"
PREFIX = "cb-pg-"  # of the temporary directory each server lives in
START_TIMEOUT = 15.0
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None)  # loaded here: the child between fork and exec should do little


def find_bindir() -> Path:
    """Where initdb and postgres live: Debian's versioned directory, else the PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                        else 0, reverse=True)
    for d in candidates:
        if (Path(d) / "initdb").is_file() and (Path(d) / "postgres").is_file():
            return Path(d)
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres and Path(initdb).parent == Path(postgres).parent:
        return Path(initdb).parent
    pytest.fail("PostgreSQL server binaries (initdb, postgres) not found in "
                "/usr/lib/postgresql/*/bin or on PATH: install the `postgresql` package "
                "(./dev test does)", pytrace=False)


def _server_user() -> pwd.struct_passwd | None:
    """None: run as ourselves. As root: the `postgres` system user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root, PostgreSQL needs an unprivileged user to run as, and "
                    "there is no `postgres` user: install the `postgresql` package, or run "
                    "the tests as a normal user", pytrace=False)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    # subprocess calls this after the user switch (which would clear it); SIGINT is
    # PostgreSQL's fast shutdown. "Parent" is the forking thread: start from the main one.
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


@dataclass
class PostgresServer:
    """A running server: where its socket is, and how to get a fresh database on it."""

    root: Path  # the temporary directory: socket, data directory, log
    proc: subprocess.Popen[bytes]
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def dsn(self, database: str = "postgres", password: str = "") -> str:
        """A libpq-style URL over the unix socket (a password, if given, is ignored by the
        server's `trust` authentication: for tests that check it never leaks)."""
        auth = SUPERUSER + (f":{quote(password, safe='')}" if password else "")
        return f"postgresql://{auth}@/{database}?host={quote(str(self.root))}"

    async def new_database(self, prefix: str = "test") -> str:
        """A new empty database; returns its name."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        conn: Any = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return name

    async def create_database(self, prefix: str = "test") -> str:
        """A new empty database; returns its DSN."""
        return self.dsn(await self.new_database(prefix))

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: clients are cut off
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _ready(data: Path) -> bool:
    """postmaster.pid's eighth line says `ready` once connections are accepted."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def remove_stale(tmp: Path, older_than: float = 600.0) -> None:
    """Directories of servers whose test run was killed outright (the server went with it,
    by its parent-death signal; its files stayed): no live postmaster, untouched a while."""
    for root in tmp.glob(f"{PREFIX}*"):
        try:
            if (time.time() - root.stat().st_mtime > older_than
                    and not _alive(root / "data" / "postmaster.pid")):
                shutil.rmtree(root, ignore_errors=True)
        except OSError:
            continue


def start_server() -> PostgresServer:
    bindir = find_bindir()
    user = _server_user()
    as_user: dict[str, Any] = {}
    remove_stale(Path(tempfile.gettempdir()))
    # a short path: a unix socket's path must stay under ~100 bytes
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    data = root / "data"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    server: PostgresServer | None = None
    try:
        done = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
             "--no-sync", "--no-locale", "-E", "UTF8"],
            capture_output=True, env=env, cwd=root, check=False, **as_user,
        )
        if done.returncode != 0:
            pytest.fail(f"initdb failed: {done.stderr.decode(errors='replace')[-2000:]}",
                        pytrace=False)
        with (root / "postgres.log").open("wb") as log:
            proc = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(data),
                 "-c", "listen_addresses=", "-c", f"unix_socket_directories={root}",
                 "-c", "unix_socket_permissions=0700",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=100"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=root,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None, **as_user,
            )
        server = PostgresServer(root, proc)
        deadline = time.monotonic() + START_TIMEOUT
        while not _ready(data):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL did not start: {server.log()[-2000:]}",
                            pytrace=False)
            time.sleep(0.02)
        return server
    except BaseException:
        if server is not None:
            server.stop()  # and removes root
        shutil.rmtree(root, ignore_errors=True)
        raise


_SERVER = pytest.StashKey[PostgresServer]()


def session_server(config: pytest.Config) -> PostgresServer:
    """The test session's one server, started on first use and stopped when pytest ends
    (however many conftests or modules ask for it)."""
    server = config.stash.get(_SERVER, None)
    if server is None:
        server = start_server()
        config.stash[_SERVER] = server
        config.add_cleanup(server.stop)
    return server
