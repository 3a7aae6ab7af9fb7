"""The pages and their assets, all served by the broker itself (no CDN).

Each role has one small HTML page under `web/static/`; its scripts and styles live under
`/static/`. The socket.io browser client comes from npm (`npm install --prefix web`) and is
served from `web/node_modules` as `/vendor/socket.io.min.js`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

log = logging.getLogger("web.pages")

WEB = Path(__file__).parent
STATIC = WEB / "static"
SOCKET_IO_DIST = WEB / "node_modules" / "socket.io-client" / "dist"

# path -> page file; the customer's token travels in the fragment (/j#<token>), and so does
# a callback request's (/r#<token>: the customer's personal page of their request)
PAGES = {
    "/": "index.html",
    "/staff": "staff.html",
    "/supervisor": "supervisor.html",
    "/j": "customer.html",
    "/join": "join.html",
    "/r": "callback.html",
}
# a team's entry page for customers without an appointment (/t/<team>; the page reads the
# team from its own address); team ids as everywhere (`web.auth.TEAM`)
DROPIN_ROUTE = "/t/{team:[A-Za-z0-9._-]{1,64}}"
DROPIN_PAGE = "dropin.html"
# what /vendor/ serves: the client and its source map, nothing else from node_modules
VENDOR = {
    "socket.io.min.js": "text/javascript; charset=utf-8",
    "socket.io.min.js.map": "application/json",
}
SETUP_HINT = (
    "The socket.io browser client is missing. Run `npm install --prefix web` "
    "(or `npm ci --prefix web`) in the project directory, then reload."
)

PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _page(name: str) -> PageHandler:
    path = STATIC / name

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(path, headers={"Cache-Control": "no-cache"})
        response.content_type = "text/html"
        response.charset = "utf-8"
        return response

    return handler


async def vendor(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    content_type = VENDOR.get(name)
    if content_type is None:
        raise web.HTTPNotFound()
    path = SOCKET_IO_DIST / name
    if not path.is_file():
        log.warning("%s not found: run `npm install --prefix web` to set up the pages", path)
        return web.Response(
            status=503,
            text=SETUP_HINT + "\n",
            headers={"Retry-After": "60", "Cache-Control": "no-store"},
        )
    return web.FileResponse(
        path, headers={"Content-Type": content_type, "Cache-Control": "public, max-age=3600"}
    )


def setup(app: web.Application) -> None:
    for route, name in PAGES.items():
        app.router.add_get(route, _page(name))
    app.router.add_get(DROPIN_ROUTE, _page(DROPIN_PAGE))
    app.router.add_get("/vendor/{name}", vendor)
    app.router.add_static("/static/", STATIC, append_version=False)
    if not (SOCKET_IO_DIST / "socket.io.min.js").is_file():
        log.warning("the socket.io browser client is missing: run `npm install --prefix web`")
