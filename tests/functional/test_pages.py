"""The pages: served, self-contained, and fit for the CSP (no inline code, no other hosts)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from broker.config import load_settings
from web import pages
from web.app import create_app

Client = TestClient[web.Request, web.Application]
PAGES = ["/", "/staff", "/supervisor", "/j", "/join", "/t/t1", "/r"]
SOCKET_IO = pages.SOCKET_IO_DIST / "socket.io.min.js"
needs_npm = pytest.mark.skipif(
    not SOCKET_IO.is_file(), reason="run `npm install --prefix web` for the socket.io client"
)
_IMPORT = re.compile(r"""(?:import|from)\s*["'](\./[\w./-]+)["']""")
_URL = re.compile(r"""https?://[^\s"'<>)]+""", re.IGNORECASE)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    settings = load_settings(environ={}, data_dir=tmp_path, secret="x" * 40)
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as c:
        yield c


class Page(HTMLParser):
    """What a page refers to, and anything that would break the CSP."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.problems: list[str] = []
        self.labels_for: set[str] = set()
        self.fields: list[str] = []
        self.lang: str | None = None
        self.live_regions = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in a:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
        if "aria-live" in a or a.get("role") in ("status", "alert"):
            self.live_regions += 1
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "style":
            self.problems.append("<style> element")
        elif tag == "script":
            self._in_script = True
            if a.get("src"):
                self.scripts.append(str(a["src"]))
            else:
                self.problems.append("<script> without src")
        elif tag == "link" and a.get("rel") == "stylesheet" and a.get("href"):
            self.styles.append(str(a["href"]))
        elif tag == "label" and a.get("for"):
            self.labels_for.add(str(a["for"]))
        elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.fields.append(str(a.get("id")))
        for value in a.values():
            if value and value.startswith("javascript:"):
                self.problems.append(f"javascript: URL in <{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("inline script code")


async def fetch_page(client: Client, path: str) -> tuple[str, Page]:
    resp = await client.get(path)
    assert resp.status == 200, path
    assert resp.content_type == "text/html", (path, resp.content_type)
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    text = await resp.text()
    page = Page()
    page.feed(text)
    page.close()
    return text, page


@pytest.mark.parametrize("path", PAGES)
async def test_page_is_html_in_german_without_inline_code(client: Client, path: str) -> None:
    text, page = await fetch_page(client, path)
    assert page.lang == "de"
    assert 'name="viewport"' in text
    assert page.problems == []
    assert _URL.findall(text) == [], "pages load nothing from other hosts"
    # the shared sheet first; the staff pages add their console sheet, all self-hosted
    assert page.styles[0] == "/static/css/app.css"
    assert set(page.styles) <= {"/static/css/app.css", "/static/css/console.css"}
    unlabelled = [f for f in page.fields if f not in page.labels_for]
    assert unlabelled == [], f"form fields without a <label for>: {unlabelled}"


@pytest.mark.parametrize("path", ["/staff", "/supervisor", "/j", "/t/t1", "/r"])
async def test_live_pages_announce_state_and_load_the_socket_client_first(
    client: Client, path: str
) -> None:
    _, page = await fetch_page(client, path)
    assert page.live_regions >= 2
    assert page.scripts[0] == "/vendor/socket.io.min.js"
    assert all(s.startswith("/static/js/") for s in page.scripts[1:])


@pytest.mark.parametrize("path", PAGES)
async def test_every_asset_a_page_uses_is_served(client: Client, path: str) -> None:
    """Scripts and styles of the page, and every module those scripts import."""
    _, page = await fetch_page(client, path)
    todo = [s for s in page.scripts + page.styles if s.startswith("/static/")]
    seen: set[str] = set()
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        resp = await client.get(url)
        assert resp.status == 200, url
        body = await resp.text()
        if url.endswith(".js"):
            assert "javascript" in resp.content_type, (url, resp.content_type)
            assert _URL.findall(body) == [], f"{url} names another host"
            base = url.rsplit("/", 1)[0]
            todo += [f"{base}/{m[2:]}" for m in _IMPORT.findall(body)]
        else:
            assert resp.content_type == "text/css", (url, resp.content_type)
            assert "@import" not in body and "url(http" not in body
    assert "/static/css/app.css" in seen
    if path != "/":
        assert "/static/js/common.js" in seen  # reached through the page's own module


async def test_pages_use_no_public_stun_server(client: Client) -> None:
    resp = await client.get("/static/js/rtc.js")
    body = await resp.text()
    assert "stun:" not in body and "turn:" not in body
    assert "iceServers: this.iceServers" in body


@needs_npm
async def test_socket_io_client_is_served_from_node_modules(
    client: Client,
) -> None:
    resp = await client.get("/vendor/socket.io.min.js")
    assert resp.status == 200
    assert "javascript" in resp.content_type
    body = await resp.read()
    assert body == SOCKET_IO.read_bytes()
    assert b"Socket.IO v4." in body[:200]


async def test_missing_socket_io_client_is_a_clear_503(
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(pages, "SOCKET_IO_DIST", tmp_path / "nowhere")
    with caplog.at_level(logging.WARNING, logger="web.pages"):
        resp = await client.get("/vendor/socket.io.min.js")
    assert resp.status == 503
    assert "npm install --prefix web" in await resp.text()
    assert any("npm install --prefix web" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "path",
    [
        "/vendor/package.json",
        "/vendor/..%2fpackage.json",
        "/vendor/socket.io.js",
        "/static/../pages.py",
        "/static/%2e%2e/pages.py",
        "/static/nothing.js",
    ],
)
async def test_nothing_else_is_reachable(client: Client, path: str) -> None:
    resp = await client.get(path)
    assert resp.status in (403, 404), (path, resp.status)
