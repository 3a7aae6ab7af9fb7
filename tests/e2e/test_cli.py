"""The command line as an operator meets it: first start prints working demo sign-in links."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from tests.conftest import Peer
from tests.ports import free_port


async def _serve_until_listening(data_dir: Path, port: int) -> tuple[asyncio.subprocess.Process,
                                                                     str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CB_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--data-dir",
        str(data_dir), env={**env, "CB_LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    out = ""
    while "listening on" not in out:
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert line, f"broker exited: {out}"
        out += line.decode()
    return proc, out


async def test_first_start_prints_demo_links_that_sign_in(tmp_path: Path) -> None:
    """Demo links appear on the first start only, and the counsellor's link opens /staff."""
    port = free_port()
    proc, out = await _serve_until_listening(tmp_path / "d", port)
    try:
        links = dict(re.findall(r"^\s+(counsellor|supervisor)\s+(\S+)$", out, re.M))
        assert set(links) == {"counsellor", "supervisor"}, out
        assert links["counsellor"].startswith(f"http://127.0.0.1:{port}/staff#token=")
        token = links["counsellor"].split("#token=")[1]
        staff = await Peer(f"http://127.0.0.1:{port}", "/staff", {"token": token}).connect()
        assert (await staff.next("welcome"))["staff"] == "demo-counsellor"
        await staff.close()
        supervisor_token = links["supervisor"].split("#token=")[1]
        lead = await Peer(f"http://127.0.0.1:{port}", "/supervisor",
                          {"token": supervisor_token}).connect()
        assert "teams" in await lead.next("load")
        await lead.close()
    finally:
        proc.terminate()
        assert await proc.wait() == 0, "SIGTERM is a clean stop"
    assert (tmp_path / "d" / "secret.key").stat().st_mode & 0o077 == 0

    proc, out = await _serve_until_listening(tmp_path / "d", port)
    proc.terminate()
    await proc.wait()
    assert "/staff#token=" not in out, "demo links only on the first start"


async def test_unknown_setting_stops_the_start(tmp_path: Path) -> None:
    """A typo in a CB_ variable is an error naming it, not a silent default."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", "serve", "--data-dir", str(tmp_path),
        env={**os.environ, "CB_GRACE_SECOND": "5"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 2
    assert "CB_GRACE_SECOND" in err.decode()
