"""Real headless Chromium (Debian's, driven by Playwright) against a real broker on loopback.

Chromium gets a fake camera and microphone and grants them without asking; it reaches
nothing but the broker (no background networking). Every peer connection a page creates is
recorded in `window.__pcs` by an init script, so a test can read `getStats` the way a
person would look at the picture: decoded frames, not the page's own claims. Screenshots of
each state are written to `test-artifacts/screenshots/` for people to look at.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

from tests.conftest import Broker, MakeBroker
from tests.ports import free_port

ROOT = Path(__file__).parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
AXE_SOURCE = AXE.read_text() if AXE.exists() else None
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
RECORD_PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Native);
})();
"""
NO_WEBRTC = "delete window.RTCPeerConnection; delete window.webkitRTCPeerConnection;"




@pytest.fixture
async def site(make_broker: MakeBroker) -> Broker:
    """A broker whose public URL is the address the browser uses (socket.io checks the
    page's origin against it)."""
    return await make_broker(port=free_port(), load_push_interval=0.2)


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.fail("Chromium is missing: `./dev test` installs it (apt install chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        await browser.close()


async def new_context(browser: Browser, *, phone: bool = False, webrtc: bool = True,
                      locale: str = "de-DE") -> BrowserContext:
    """A person's browser: a desktop, or a narrow phone screen."""
    size: ViewportSize = ({"width": 360, "height": 740} if phone
                          else {"width": 1280, "height": 860})
    context = await browser.new_context(viewport=size, locale=locale,
                                        permissions=["camera", "microphone"],
                                        is_mobile=phone, has_touch=phone)
    await context.add_init_script(RECORD_PEER_CONNECTIONS if webrtc else NO_WEBRTC)
    return context


class ConsoleErrors:
    """Errors a page logs: a test fails on any it does not expect."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


async def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now (self-hosted axe)."""
    if AXE_SOURCE is None:
        pytest.fail("axe-core is missing: `./dev test` installs it (npm ci in web/)")
    if not await page.evaluate("typeof window.axe === 'object'"):
        # evaluated by the test driver, outside the page's CSP (which rightly forbids it)
        await page.evaluate(AXE_SOURCE + "\n;undefined")
    result = await page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})")
    return list(result["violations"])


def describe(violations: list[dict[str, Any]]) -> str:
    return json.dumps([{"id": v["id"], "impact": v["impact"],
                        "nodes": [n["target"] for n in v["nodes"]][:5]} for v in violations],
                      indent=1)


async def frames_decoded(page: Page) -> int:
    """Video frames this page decoded so far, from getStats of its peer connections."""
    return int(await page.evaluate("""async () => {
      let frames = 0;
      for (const pc of window.__pcs || []) {
        const stats = await pc.getStats();
        stats.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0;
        });
      }
      return frames;
    }"""))
