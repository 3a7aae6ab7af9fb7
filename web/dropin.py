"""Drop-in REST endpoints: a team's entry page asks what it offers and queues a customer;
admins set counsellors' skills. The waiting itself runs over the `/queue` socket.

A new ticket is limited per client address (as access codes are), so that nobody fills a
team's queue from one machine.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from aiohttp import web

from broker.errors import BadInput, BrokerError, ErrorCode
from broker.routing import TOPICS, Presence, Skills
from broker.types import Role, StaffId, TeamId
from signaling.ratelimit import TokenBucket
from signaling.schemas import LANGUAGES
from web.api import body, client_key
from web.auth import TEAM, staff
from web.keys import DROPIN, SERVICE, SETTINGS

log = logging.getLogger("web.dropin")

STAFF_ID = re.compile(r"[A-Za-z0-9._@-]{1,64}")
LANGUAGE = re.compile(r"[a-z]{2}")  # ISO 639-1: what a counsellor speaks
# at most this many buckets are kept (the oldest are forgotten first)
_MAX_CLIENTS = 10_000
_BUCKETS = web.AppKey("dropin_buckets", dict[str, TokenBucket])


def _team(request: web.Request) -> TeamId:
    team = request.match_info["team"]
    if not TEAM.fullmatch(team):
        raise BadInput("team must be a team id")
    return TeamId(team)


def limit_new_entries(request: web.Request, what: str = "tickets") -> None:
    """A few new tickets (and callback requests: one budget) per client address and
    minute (a family at one router queues several people; a script does not fill the
    queue or the worklist)."""
    buckets = request.app[_BUCKETS]
    key = client_key(request)
    bucket = buckets.get(key)
    if bucket is None:
        if len(buckets) >= _MAX_CLIENTS:
            del buckets[next(iter(buckets))]
        per_minute = request.app[SETTINGS].code_attempts_per_minute
        bucket = buckets[key] = TokenBucket(per_minute / 60, per_minute)
    if not bucket.take():
        log.info("new %s refused: rate limited client=%s", what, key)
        raise BrokerError(ErrorCode.RATE_LIMITED, f"too many new {what} from your network")


async def entry(request: web.Request) -> web.Response:
    """What the entry page offers: topics, languages, whether the team is open and anyone
    of it is taking drop-ins right now; with `?topic=&language=`, whether a customer with
    that wish is better offered a callback (`overflow`) and their estimated wait."""
    team = _team(request)
    dropin = request.app[DROPIN]
    staffed = any(team in a.teams and a.presence is not Presence.AWAY
                  for a in dropin.dispatcher.agents.values())
    out: dict[str, Any] = {"team": team, "topics": list(dropin.policy.topics),
                           "languages": list(LANGUAGES), "staffed": staffed,
                           "open": dropin.is_open()}
    query = request.query
    if set(query) - {"topic", "language"}:
        raise BadInput("the query may hold topic and language only")
    language = query.get("language", "de")
    if language not in LANGUAGES:
        raise BadInput(f"language must be one of {', '.join(LANGUAGES)}")
    if "topic" in query:
        out.update(dropin.overflow(team, query["topic"], language))
    return web.json_response(out)


async def open_ticket(request: web.Request) -> web.Response:
    team = _team(request)
    dropin = request.app[DROPIN]
    limit_new_entries(request)
    d = await body(request, {"topic", "language", "capabilities"})
    caps = d.get("capabilities", {})
    if not isinstance(caps, dict) or set(caps) - {"webrtc", "camera", "microphone"} \
            or not all(isinstance(v, bool) for v in caps.values()):
        raise BadInput("capabilities must be an object with webrtc, camera, microphone "
                       "(true or false)")
    topic, language = d.get("topic"), d.get("language", "de")
    if not isinstance(topic, str) or not isinstance(language, str):
        raise BadInput("topic and language must be strings")
    # missing keys count as true, as everywhere in the protocol (section 3)
    ticket = await dropin.open_ticket(team, topic, language,
                                      camera=caps.get("camera", True),
                                      microphone=caps.get("microphone", True),
                                      webrtc=caps.get("webrtc", True))
    return web.json_response(ticket, status=201)


def _staff_id(request: web.Request) -> StaffId:
    staff_id = request.match_info["staff"]
    if not STAFF_ID.fullmatch(staff_id):
        raise BadInput("staff must be a staff id")
    return StaffId(staff_id)


def parse_skills(d: dict[str, Any], topics: tuple[str, ...] = TOPICS) -> Skills:
    """`{teams?, topics, languages}` as lists of ids; refuses what is not one."""
    def ids(key: str, pattern: re.Pattern[str], default: list[str] | None) -> frozenset[Any]:
        value = d.get(key, default)
        if not isinstance(value, list) or len(value) > 64 or not all(
                isinstance(v, str) and pattern.fullmatch(v) for v in value):
            raise BadInput(f"{key} must be a list of ids (at most 64)")
        return frozenset(value)

    teams = ids("teams", TEAM, [])
    chosen = ids("topics", re.compile("|".join(map(re.escape, topics))), None)
    languages = ids("languages", LANGUAGE, None)
    if not chosen or not languages:
        raise BadInput(f"topics (among {', '.join(topics)}) and languages (two-letter "
                       "codes) must not be empty")
    return Skills(frozenset(TeamId(t) for t in teams), chosen, languages)


async def get_skills(request: web.Request) -> web.Response:
    await staff(request, Role.ADMIN)
    staff_id = _staff_id(request)
    skills = await request.app[SERVICE].contacts.skills(staff_id)
    return web.json_response({"staff": staff_id, "set": skills is not None,
                              **(skills or Skills()).to_dict()})


async def put_skills(request: web.Request) -> web.Response:
    """An admin sets which teams' drop-ins a counsellor takes, in which topics and
    languages; a connected console routes by them at once."""
    await staff(request, Role.ADMIN)
    staff_id = _staff_id(request)
    skills = parse_skills(await body(request, {"teams", "topics", "languages"}))
    await request.app[SERVICE].contacts.set_skills(staff_id, skills, time.time())
    await request.app[DROPIN].skills_changed(staff_id)
    log.info("skills of a counsellor changed")
    return web.json_response({"staff": staff_id, "set": True, **skills.to_dict()})


def setup(app: web.Application) -> None:
    app[_BUCKETS] = {}
    r = app.router
    r.add_get("/api/dropin/{team}", entry)
    r.add_post("/api/dropin/{team}", open_ticket)
    r.add_get("/api/staff/{staff}/skills", get_skills)
    r.add_put("/api/staff/{staff}/skills", put_skills)
