"""The REST API. Staff endpoints need `Authorization: Bearer <staff token>` with the right role.

Bodies are JSON objects of known fields; anything else is a 400 with a code.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from broker.attempts import AttemptPolicy, CodeGuard, LocalCodeGuard
from broker.credentials import normalise_access_code
from broker.errors import AccessDenied, BadInput, BrokerError, ErrorCode, NotFound
from broker.events import Cancel
from broker.session import Session
from broker.store.redis_guard import RedisCodeGuard
from broker.types import PROTOCOL_VERSION, Channel, CustomerRef, Role, SessionId, TeamId
from signaling.clientaddr import client_address, parse_networks
from signaling.metrics import CONTENT_TYPE
from signaling.schemas import LANGUAGES, SESSION_ID
from web import reports
from web.auth import TEAM, bearer, staff
from web.keys import SERVICE, SETTINGS, SIGNALING

CUSTOMER_REF = re.compile(r"[A-Za-z0-9._:-]{1,64}")
log = logging.getLogger("web.api")


async def body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise BadInput("send application/json")
    try:
        data = json.loads(await request.text(), parse_constant=_no_constants)
    except ValueError:
        raise BadInput("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    unknown = set(data) - allowed
    if unknown:
        raise BadInput(f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
    return data


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json would take NaN and Infinity


def time_value(value: Any, key: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an integer past the float range
            raise BadInput(f"{key} must be a finite time") from None
        if not math.isfinite(seconds):
            raise BadInput(f"{key} must be a finite time")
        return seconds
    if isinstance(value, str) and len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                raise BadInput(f"{key} needs a time zone, e.g. 2026-11-23T10:00:00+01:00")
            return parsed.timestamp()
    raise BadInput(f"{key} must be an ISO 8601 time with zone or a Unix time")


def _session_id(request: web.Request) -> SessionId:
    raw = request.match_info["session"]
    if not SESSION_ID.fullmatch(raw):
        raise BadInput("not a session id")
    return SessionId(raw)


def join_url(request: web.Request, token: str) -> str:
    # the token travels in the fragment: it never reaches a server log or a Referer
    return f"{request.app[SETTINGS].base_url}/j#{token}"


def format_code(code: str) -> str:
    return " ".join(code[i:i + 3] for i in range(0, len(code), 3))


def session_json(s: Session) -> dict[str, Any]:
    view = s.view(Role.COUNSELLOR)
    view["access_code_display"] = format_code(s.access_code)
    return view


# ---------------------------------------------------------------- handlers


async def create_session(request: web.Request) -> web.Response:
    who = await staff(request, Role.COUNSELLOR)
    d = await body(request, {"customer_ref", "planned_start", "planned_channel", "team"})
    ref = d.get("customer_ref")
    if not isinstance(ref, str) or not CUSTOMER_REF.fullmatch(ref):
        raise BadInput("customer_ref must be a pseudonymous reference (letters, digits, .-_:)")
    channel = d.get("planned_channel", "video")
    if not isinstance(channel, str) or channel not in {c.value for c in Channel}:
        raise BadInput("planned_channel must be video, audio or phone")
    team = d.get("team")
    if team is None:
        if len(who.teams) != 1:
            raise BadInput("team is required for staff in several teams")
        team = next(iter(who.teams))
    if not isinstance(team, str) or not TEAM.fullmatch(team):
        raise BadInput("team must be a team id")
    service = request.app[SERVICE]
    start = time_value(d.get("planned_start"), "planned_start", service.now())
    created = await service.create(
        who, TeamId(team), CustomerRef(ref), start, Channel(channel)
    )
    out = session_json(created.session)
    out.update(
        customer_token=created.customer_token,
        join_url=join_url(request, created.customer_token),
        expires_at=created.expires_at,
    )
    return web.json_response(out, status=201)


async def list_sessions(request: web.Request) -> web.Response:
    who = await staff(request, Role.COUNSELLOR)
    service = request.app[SERVICE]
    live = [session_json(s) for s in await service.sessions_of(who.staff_id)]
    now = service.now()
    zone = ZoneInfo(request.app[SETTINGS].report_timezone)  # the reports' day, too
    today = datetime.fromtimestamp(now, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    day_start = today.timestamp()
    closed = await service.contacts.contacts(day_start, now + 1, counsellor=who.staff_id)
    return web.json_response({"sessions": live, "closed_today": closed})


async def get_session(request: web.Request) -> web.Response:
    who = await staff(request, Role.COUNSELLOR)
    service = request.app[SERVICE]
    s = await service.get(_session_id(request))
    service.require_counsellor(who, s)
    return web.json_response(session_json(s))


def link_json(request: web.Request, s: Session) -> dict[str, Any]:
    token, expires = request.app[SERVICE].customer_token(s)
    return {"session": s.id, "customer_token": token, "join_url": join_url(request, token),
            "expires_at": expires, "link_generation": s.link_generation,
            "access_code": s.access_code, "access_code_display": format_code(s.access_code)}


async def get_link(request: web.Request) -> web.Response:
    """The session's current link again (for a console that reloaded); revokes nothing."""
    who = await staff(request, Role.COUNSELLOR)
    service = request.app[SERVICE]
    s = await service.get(_session_id(request))
    service.require_counsellor(who, s)
    return web.json_response(link_json(request, s))


async def reissue_link(request: web.Request) -> web.Response:
    """A new link and access code; every older link and the old code stop working."""
    who = await staff(request, Role.COUNSELLOR)
    s = await request.app[SERVICE].revoke_link(who, _session_id(request))
    return web.json_response(link_json(request, s))


async def revoke_link(request: web.Request) -> web.Response:
    """Revoke the link and code without handing out new ones (until a re-issue)."""
    who = await staff(request, Role.COUNSELLOR)
    s = await request.app[SERVICE].revoke_link(who, _session_id(request))
    return web.json_response({"session": s.id, "revoked": True,
                              "link_generation": s.link_generation})


async def cancel_session(request: web.Request) -> web.Response:
    who = await staff(request, Role.COUNSELLOR)
    service = request.app[SERVICE]
    s = await service.get(_session_id(request))
    service.require_counsellor(who, s)
    s = await service.apply(s.id, Cancel())
    return web.json_response({"session": s.id, "state": str(s.state)})


_GUARD = web.AppKey("code_guard", CodeGuard)
_TRUSTED = web.AppKey("trusted_proxies", tuple)


def client_key(request: web.Request) -> str:
    """A pseudonym of the client's address: limits key on it, logs may name it."""
    address = client_address(request.remote, request.headers.get("X-Forwarded-For"),
                             request.app[_TRUSTED])
    return request.app[SERVICE].issuer.keyed_hash("address", address)[:16]


async def exchange_code(request: web.Request) -> web.Response:
    """Access code for a link. Every refusal is logged, never with the code itself."""
    service = request.app[SERVICE]
    guard = request.app[_GUARD]
    who = client_key(request)
    try:
        await guard.before_attempt(who, service.now())
    except BrokerError:
        log.info("access code refused: rate limited client=%s", who)
        raise
    d = await body(request, {"code"})
    code = normalise_access_code(d.get("code"))
    if code is None:
        raise BadInput("the access code has nine digits", ErrorCode.INVALID_CODE)
    try:
        s = await service.get(await service.session_for_code(code))
    except BrokerError as err:
        await guard.failed(who, service.now())
        log.info("access code refused: %s client=%s%s", err.code, who,
                 " (now locked out)" if await guard.locked(who, service.now()) else "")
        raise
    try:
        await guard.redeem(service.issuer.keyed_hash("access-code", code), service.now())
    except BrokerError:
        log.info("access code refused: used too often, session %s client=%s", s.id, who)
        raise
    return web.json_response(link_json(request, s))


async def rate(request: web.Request) -> web.Response:
    """The customer's optional rating after the call, with the link's own token. It is kept
    with the contact record only (never with a name), once: the first rating stays."""
    service = request.app[SERVICE]
    who = service.issuer.check_customer(bearer(request, "the customer link's token"),
                                        service.now())
    score = (await body(request, {"score"})).get("score")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise BadInput("score is a whole number from 1 to 5")
    if not await service.contacts.is_closed(who.session_id):
        s = await service.get(who.session_id)  # 404 if there is no such session at all
        if who.generation != s.link_generation:
            raise AccessDenied(ErrorCode.LINK_REVOKED, "this link has been replaced")
        raise BrokerError(ErrorCode.CONFLICT, "the conversation has not ended yet")
    if not await service.contacts.rate(who.session_id, score):
        raise BrokerError(ErrorCode.CONFLICT, "this conversation has been rated already")
    log.info("session %s rated", who.session_id)
    return web.json_response({"session": who.session_id, "satisfaction": score})


async def load(request: web.Request) -> web.Response:
    who = await staff(request, Role.SUPERVISOR)
    teams = None if who.has(Role.ADMIN) else who.teams
    return web.json_response(await request.app[SIGNALING].load_snapshot(teams))


async def contacts(request: web.Request) -> web.Response:
    """Contact records ended in [from, to): supervisors see their teams, counsellors their own."""
    who = await staff(request, Role.COUNSELLOR, Role.SUPERVISOR)
    service = request.app[SERVICE]
    now = service.now()
    since = time_value(_number(request.query.get("from")), "from", now - 86400)
    until = time_value(_number(request.query.get("to")), "to", now + 1)
    if who.has(Role.ADMIN):
        rows = await service.contacts.contacts(since, until)
    elif who.has(Role.SUPERVISOR):
        teams = frozenset(str(t) for t in who.teams)
        rows = await service.contacts.contacts(since, until, teams=teams)
    else:
        rows = await service.contacts.contacts(since, until, counsellor=who.staff_id)
    return web.json_response({"contacts": rows})


async def contact(request: web.Request) -> web.Response:
    who = await staff(request, Role.COUNSELLOR, Role.SUPERVISOR)
    record = await request.app[SERVICE].contacts.contact(_session_id(request))
    if record is None:
        raise BrokerError(ErrorCode.NOT_FOUND, "no contact record for that session")
    allowed = (
        who.has(Role.ADMIN)
        or record["counsellor"] == who.staff_id
        or (who.has(Role.SUPERVISOR) and record["team"] in who.teams)
    )
    if not allowed:
        raise AccessDenied(ErrorCode.FORBIDDEN, "not your contact")
    return web.json_response(record)


def _number(value: str | None) -> Any:
    """Query times may be Unix seconds or ISO 8601."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


async def metrics(request: web.Request) -> web.Response:
    """Prometheus scrapes this with the configured bearer token; without one it is off
    (team figures and error rates are not for the public internet)."""
    expected = request.app[SETTINGS].metrics_token
    if not expected:
        raise NotFound("metrics (set CB_METRICS_TOKEN to turn them on)")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        raise AccessDenied(ErrorCode.UNAUTHENTICATED, "metrics need their bearer token")
    service = request.app[SERVICE]
    load = await request.app[SIGNALING].load_snapshot()
    outbox = await service.contacts.outbox_summary()
    body = request.app[SIGNALING].metrics.render(load, outbox, service.now())
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE,
                                            "Cache-Control": "no-store"})


async def health(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    started = time.monotonic()
    await service.contacts.is_closed("healthz")
    return web.json_response(
        {"status": "ok", "node": service.node,
         "contact_log_ms": round((time.monotonic() - started) * 1000, 2)}
    )


async def client_config(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return web.json_response(
        {"protocol": PROTOCOL_VERSION, "hotline": settings.hotline_number,
         "languages": list(LANGUAGES)}
    )


def setup(app: web.Application) -> None:
    st = app[SETTINGS]
    policy = AttemptPolicy(
        per_address_per_minute=st.code_attempts_per_minute,
        lockout_failures=st.code_lockout_failures, lockout_seconds=st.code_lockout_seconds,
        uses_per_code=st.code_uses_per_window, failures_per_minute=st.code_failures_per_minute,
    )
    # several processes count the guesses together, or N processes would allow N times
    guard: CodeGuard = (RedisCodeGuard(st.redis_url, policy) if st.redis_url
                        else LocalCodeGuard(policy))
    app[_GUARD] = guard

    async def close_guard(app: web.Application) -> None:
        await guard.close()

    app.on_cleanup.append(close_guard)
    app[_TRUSTED] = parse_networks(st.trusted_proxies)
    r = app.router
    r.add_post("/api/sessions", create_session)
    r.add_get("/api/sessions", list_sessions)
    r.add_get("/api/sessions/{session}", get_session)
    r.add_get("/api/sessions/{session}/link", get_link)
    r.add_post("/api/sessions/{session}/link", reissue_link)
    r.add_delete("/api/sessions/{session}/link", revoke_link)
    r.add_post("/api/sessions/{session}/cancel", cancel_session)
    r.add_post("/api/join", exchange_code)
    r.add_get("/api/load", load)
    r.add_post("/api/rating", rate)
    r.add_get("/api/contacts", contacts)
    r.add_get("/api/contacts/{session}", contact)
    reports.setup(app)
    r.add_get("/api/config", client_config)
    r.add_get("/healthz", health)
    r.add_get("/metrics", metrics)
