"""The floor of our stack: a bare python-socketio relay, no auth and no validation.

A client connects with `auth {room}`; every `signal` it sends goes to the others in its
room. Same stack and settings as the broker: aiohttp, uvloop, websocket, one event at a
time per socket, no HTTP compression, heartbeats every 10 s, and the broker's garbage
collector settings (frozen start-up objects, raised thresholds).

    .venv/bin/python -m bench.bare_relay --port 9001
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
from typing import Any

import socketio
from aiohttp import web


def relay_app() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", async_handlers=False,
                               http_compression=False, ping_interval=10, ping_timeout=10,
                               logger=False, engineio_logger=False)
    room_of: dict[str, str] = {}

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any]) -> None:
        room_of[sid] = str(auth["room"])
        await sio.enter_room(sid, room_of[sid])

    @sio.event  # type: ignore[untyped-decorator]
    async def disconnect(sid: str, reason: str) -> None:
        room_of.pop(sid, None)

    @sio.event  # type: ignore[untyped-decorator]
    async def signal(sid: str, data: Any) -> None:
        await sio.emit("signal", data, to=room_of[sid], skip_sid=sid)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    sio.attach(app)
    return app


async def serve(port: int) -> None:
    app_runner = web.AppRunner(relay_app(), access_log=None, handle_signals=False)
    await app_runner.setup()
    await web.TCPSite(app_runner, "127.0.0.1", port).start()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await app_runner.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    # nothing of the benchmark's own is imported here: the floor carries only its stack
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        asyncio.run(serve(args.port))
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        r.run(serve(args.port))


if __name__ == "__main__":
    main()
