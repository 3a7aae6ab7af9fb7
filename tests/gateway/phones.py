"""The telephones of the gateway tests, as real processes: SIPp and baresip.

Each is started on loopback with free ports and always ended by the test that started
it (by its own process id). A missing program fails the test (see `require`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

from tests.gateway.conftest import HOTLINE, require
from tests.ports import free_port

SCENARIOS = Path(__file__).with_name("sipp")


@dataclass
class SippRun:
    returncode: int
    output: str


async def run_sipp(scenario: str, target_port: int, tmp: Path, *, rtp_listen: int,
                   values: dict[str, str], transport: str = "u1", timeout: float = 30.0,
                   service: str = HOTLINE) -> SippRun:
    """One call of `scenario` (placeholders @NAME@ filled from `values`) to the gateway."""
    sipp = require("sipp")
    text = (SCENARIOS / scenario).read_text()
    for name, value in {**values, "RTP_LISTEN": str(rtp_listen)}.items():
        text = text.replace(f"@{name}@", value)
    left = re.search(r"@[A-Z_]+@", text)
    assert left is None, f"unfilled placeholder {left.group()}"
    path = tmp / scenario
    path.write_text(text)
    args = [sipp, f"127.0.0.1:{target_port}", "-sf", str(path), "-m", "1", "-l", "1",
            "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()),
            "-s", service, "-t", transport,
            "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error",
            "-trace_err", "-error_file", str(tmp / "sipp_errors.log")]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=tmp, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout + 10):
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    errors = tmp / "sipp_errors.log"
    log = errors.read_text(errors="replace") if errors.exists() else ""
    assert proc.returncode is not None
    return SippRun(proc.returncode, err.decode(errors="replace")[-3000:] + log[-3000:])


@dataclass
class Baresip:
    """baresip-core driven over ctrl_tcp (netstring JSON), audio from an 8 kHz WAV."""

    home: Path
    wav: Path
    codec: str = "PCMA"
    sip_port: int = field(default_factory=free_port)
    ctrl_port: int = field(default_factory=free_port)
    rtp_port: int = field(default_factory=lambda: free_port() & ~1)
    proc: asyncio.subprocess.Process | None = None
    events: asyncio.Queue[dict[str, object]] = field(default_factory=asyncio.Queue)
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _pump: asyncio.Task[None] | None = None
    responses: asyncio.Queue[dict[str, object]] = field(default_factory=asyncio.Queue)

    async def start(self) -> None:
        binary = require("baresip")
        self.home.mkdir(parents=True, exist_ok=True)
        codec = {"PCMA": "PCMA/8000/1", "PCMU": "PCMU/8000/1"}[self.codec]
        (self.home / "config").write_text("\n".join([
            "poll_method\tepoll",
            f"sip_listen\t127.0.0.1:{self.sip_port}",
            "sip_transports\tudp",
            f"ctrl_tcp_listen\t127.0.0.1:{self.ctrl_port}",
            "module_path\t/usr/lib/baresip/modules",
            "module\tg711.so",
            "module\taufile.so",
            "module\tsndfile.so",  # what baresip hears: dump-*-dec.wav in snd_path
            f"snd_path\t{self.home}",
            "module_app\taccount.so",
            "module_app\tctrl_tcp.so",
            "module_app\tmenu.so",
            f"audio_source\taufile,{self.wav}",
            "audio_alert\taufile,/dev/null",
            "ausrc_srate\t8000",
            "auplay_srate\t8000",
            "ausrc_channels\t1",
            "auplay_channels\t1",
            f"rtp_ports\t{self.rtp_port}-{self.rtp_port + 20}",
            "rtp_timeout\t0",
            "audio_buffer\t20-160",
            "net_interface\t127.0.0.1",  # "lo" fails here; an address works
            "dns_server\t127.0.0.1:53",
            "",
        ]))
        (self.home / "accounts").write_text(
            f"<sip:caller@127.0.0.1>;regint=0;audio_codecs={codec};"
            "dtmfmode=rtpevent;answermode=manual\n")
        (self.home / "contacts").write_text("")
        self.proc = await asyncio.create_subprocess_exec(
            binary, "-f", str(self.home), cwd=self.home,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        async with asyncio.timeout(10):
            while True:
                try:
                    self._reader, self._writer = await asyncio.open_connection(
                        "127.0.0.1", self.ctrl_port)
                    break
                except OSError:
                    if self.proc.returncode is not None:
                        raise AssertionError("baresip did not start") from None
                    await asyncio.sleep(0.05)
        self._pump = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._reader is not None
        while True:
            try:
                length = await self._reader.readuntil(b":")
                body = await self._reader.readexactly(int(length[:-1]))
                await self._reader.readexactly(1)  # the trailing comma
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                return
            message = json.loads(body)
            if message.get("event"):
                self.events.put_nowait(message)
            elif message.get("response"):
                self.responses.put_nowait(message)

    async def command(self, command: str, params: str = "") -> dict[str, object]:
        assert self._writer is not None
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()
        return await asyncio.wait_for(self.responses.get(), 5)

    async def wait_event(self, kind: str, timeout: float = 10.0) -> dict[str, object]:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if event.get("type") == kind:
                    return event

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        if self._writer is not None:
            self._writer.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(5):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            with contextlib.suppress(Exception):
                self.output = (await self.proc.stdout.read()).decode(errors="replace")
