"""Callback requests over REST: customers (and contact forms, terminals, counsellors on the
phone) ask to be called back; counsellors work the list. A customer's personal page
follows its request over the `/callback` socket.

A request from the public is limited per client address, with the same budget as
drop-in tickets. One made with a staff token (a counsellor noting a call, a contact form's
service account) counts as `api` and is not limited.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from broker.callbacks import Outcome, Reach, Source, normalise_phone
from broker.credentials import CallbackPrincipal
from broker.errors import BadInput
from broker.types import Role, TeamId
from web.api import body, session_json, time_value
from web.auth import TEAM, bearer, staff
from web.dropin import limit_new_entries
from web.keys import SERVICE, WORKLIST

CALLBACK_ID = re.compile(r"[A-Za-z0-9_-]{8,32}")
_FIELDS = {"team", "topic", "language", "urgent", "reach", "phone", "window", "source",
           "consent"}


def _id(request: web.Request) -> str:
    raw = request.match_info["callback"]
    if not CALLBACK_ID.fullmatch(raw):
        raise BadInput("not a callback id")
    return raw


def _mine(request: web.Request) -> CallbackPrincipal:
    service = request.app[SERVICE]
    return service.issuer.check_callback(bearer(request, "the callback link's token"),
                                         service.now())


def _choice(d: dict[str, Any], key: str, kinds: type[Any], default: Any) -> Any:
    value = d.get(key, default)
    try:
        return kinds(value)
    except ValueError:
        raise BadInput(f"{key} must be one of {', '.join(k.value for k in kinds)}") from None


async def create(request: web.Request) -> web.Response:
    d = await body(request, _FIELDS)
    if "Authorization" in request.headers:
        await staff(request, Role.COUNSELLOR, Role.ADMIN)
        source = Source.API
    else:
        if d.get("consent") is not True:
            raise BadInput("consent must be true: the customer agreed to be called back")
        source = _choice(d, "source", Source, Source.ENTRY.value)
        if source is Source.API:
            raise BadInput("source api needs a staff token")
        limit_new_entries(request, "callback requests")
    team = d.get("team")
    if not isinstance(team, str) or not TEAM.fullmatch(team):
        raise BadInput("team must be a team id")
    topic, language, urgent = d.get("topic"), d.get("language", "de"), d.get("urgent", False)
    if not isinstance(topic, str) or not isinstance(language, str):
        raise BadInput("topic and language must be strings")
    if not isinstance(urgent, bool):
        raise BadInput("urgent must be true or false")
    reach = _choice(d, "reach", Reach, Reach.PHONE.value)
    phone = None
    if reach is Reach.PHONE:
        phone = normalise_phone(d.get("phone"))
    elif "phone" in d:
        raise BadInput("a video callback takes no phone number")
    window = None
    if d.get("window") is not None:
        w = d["window"]
        if not isinstance(w, dict) or set(w) != {"from", "to"}:
            raise BadInput("window must be {from, to}")
        window = (time_value(w["from"], "window.from", 0.0), time_value(w["to"], "window.to", 0.0))
    out = await request.app[WORKLIST].request(
        TeamId(team), topic, language, urgent=urgent, reach=reach, phone=phone, window=window,
        source=source)
    return web.json_response(out, status=201)


async def mine(request: web.Request) -> web.Response:
    return web.json_response(await request.app[WORKLIST].mine(_mine(request)))


async def withdraw(request: web.Request) -> web.Response:
    return web.json_response(await request.app[WORKLIST].withdraw(_mine(request)))


async def worklist(request: web.Request) -> web.Response:
    who = await staff(request, Role.COUNSELLOR)
    return web.json_response(await request.app[WORKLIST].worklist(who))


async def claim(request: web.Request) -> web.Response:
    who = await staff(request, Role.COUNSELLOR)
    return web.json_response(await request.app[WORKLIST].claim(who, _id(request)))


async def release(request: web.Request) -> web.Response:
    who = await staff(request, Role.COUNSELLOR)
    return web.json_response(await request.app[WORKLIST].release(who, _id(request)))


async def start(request: web.Request) -> web.Response:
    """The call begins: the new session (its counsellor view, as `POST /api/sessions`
    returns it) and the request."""
    who = await staff(request, Role.COUNSELLOR)
    out = await request.app[WORKLIST].start(who, _id(request))
    created = out.pop("created")
    return web.json_response({**out, "session": session_json(created.session)}, status=201)


async def record(request: web.Request) -> web.Response:
    who = await staff(request, Role.COUNSELLOR)
    d = await body(request, {"outcome"})
    outcome = _choice(d, "outcome", Outcome, None)
    return web.json_response(await request.app[WORKLIST].record(who, _id(request), outcome),
                             status=201)


async def attempts(request: web.Request) -> web.Response:
    who = await staff(request, Role.COUNSELLOR)
    items = await request.app[WORKLIST].attempts(who, _id(request))
    return web.json_response({"attempts": items})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/callbacks", create)
    r.add_get("/api/callbacks", worklist)
    r.add_get("/api/callbacks/mine", mine)
    r.add_delete("/api/callbacks/mine", withdraw)
    r.add_post("/api/callbacks/{callback}/claim", claim)
    r.add_post("/api/callbacks/{callback}/release", release)
    r.add_post("/api/callbacks/{callback}/start", start)
    r.add_get("/api/callbacks/{callback}/attempts", attempts)
    r.add_post("/api/callbacks/{callback}/attempts", record)
