"""Every refusal is JSON `{error: {code, message}}`; every response carries security headers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from broker.errors import BrokerError, ErrorCode, RateLimited
from web.keys import SETTINGS, SIGNALING

log = logging.getLogger("web.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    400: ErrorCode.BAD_REQUEST, 401: ErrorCode.UNAUTHENTICATED, 403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND, 405: ErrorCode.BAD_REQUEST, 413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
}


def error_response(err: BrokerError) -> web.Response:
    response = web.json_response({"error": err.to_dict()}, status=err.http_status)
    if isinstance(err, RateLimited):
        response.headers["Retry-After"] = str(err.retry_after)
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[SIGNALING].metrics
    try:
        return await handler(request)
    except BrokerError as err:
        metrics.refused(err.code, "http")
        return error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        code = _HTTP_CODES.get(exc.status, ErrorCode.BAD_REQUEST)
        metrics.refused(code, "http")
        response = web.json_response(
            {"error": {"code": str(code), "message": exc.reason}}, status=exc.status
        )
        if "Allow" in exc.headers:  # a 405 must say what is allowed (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        metrics.refused(ErrorCode.INTERNAL, "http")
        return error_response(BrokerError(ErrorCode.INTERNAL, "something went wrong on our side"))


# only the pages that hold a call may ask for the camera and the microphone
# the personal callback page (/r) checks the devices before a video callback rings
CALL_PAGES = frozenset({"/staff", "/j", "/r"})
# a team's drop-in entry (/t/<team>) checks camera and microphone before the customer
# queues, so that the call later starts without a question from the browser
DEVICE_CHECK_PREFIX = "/t/"
_NO_DEVICES = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), display-capture=()"
_CALL_DEVICES = ("camera=(self), microphone=(self), geolocation=(), payment=(), usb=(), "
                 "display-capture=()")


@web.middleware
async def refuse_compressed_signalling(request: web.Request, handler: Handler
                                       ) -> web.StreamResponse:
    """No browser compresses what it posts. engine.io's polling reads a compressed body up
    to its declared length only, truncated mid-packet: refuse it up front instead."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity" and request.path.startswith("/socket.io/"):
        raise web.HTTPUnsupportedMediaType(text="compressed bodies are not accepted")
    return await handler(request)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # aiohttp's own refusals (404 of a page) get them too
        _harden(request, exc)
        raise
    _harden(request, response)
    return response


def _harden(request: web.Request, response: web.StreamResponse) -> None:
    h = response.headers
    h.setdefault("Permissions-Policy",
                 _CALL_DEVICES if request.path in CALL_PAGES
                 or request.path.startswith(DEVICE_CHECK_PREFIX) else _NO_DEVICES)
    if request.app[SETTINGS].base_url.startswith("https://"):
        # behind TLS only: HSTS on a plain-http origin would lock the browser out
        h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'; object-src 'none'",
    )
