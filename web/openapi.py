"""The REST API as an OpenAPI 3.1 document, served at `GET /api/openapi.json`.

Built from the code's own constants (error codes and their HTTP statuses, id patterns,
languages, enumerations), so those cannot drift; the paths and the shapes of bodies are
written out here and kept true by tests/contract/test_openapi.py (every route documented,
every documented route served, real responses valid against their schemas) and by
tests/fuzz/test_rest_schemathesis.py (schemathesis against a running broker).
"""

from __future__ import annotations

import importlib.metadata
import json
from typing import Any

from aiohttp import web

from broker.callbacks import CallbackState, Outcome, Reach, Source
from broker.credentials import ACCESS_CODE_DIGITS
from broker.errors import BrokerError, ErrorCode
from broker.report import GROUPS, NO_CHANNEL, SECONDS_KEYS
from broker.routing import TOPICS, Presence
from broker.types import PROTOCOL_VERSION, Channel, EndReason, Kind, State
from signaling.schemas import LANGUAGES, SESSION_ID, TICKET_ID
from web import api, reports
from web.auth import TEAM
from web.callbacks import CALLBACK_ID

PATH = "/api/openapi.json"
Schema = dict[str, Any]

_DOCUMENT = web.AppKey("openapi_document", bytes)


def _version() -> str:
    try:
        return importlib.metadata.version("counselling-broker")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "0"


# ---------------------------------------------------------------- schema helpers


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None,
        description: str | None = None) -> Schema:
    """A JSON object of exactly these properties: the API never adds unlisted ones."""
    out: Schema = {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
    }
    if description:
        out["description"] = description
    return out


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def anchored(pattern: str) -> str:
    """A Python pattern used with `fullmatch`, as an anchored JSON Schema pattern."""
    return f"^(?:{pattern})$"


def codes_with_status(status: int) -> list[str]:
    """Every error code the API answers with this HTTP status (broker/errors.py)."""
    return [str(c) for c in ErrorCode if BrokerError(c, "").http_status == status]


def error_schema(codes: list[str], *, retry_after: bool = False) -> Schema:
    inner: dict[str, Schema] = {"code": {"type": "string", "enum": codes},
                                "message": {"type": "string"}}
    if retry_after:
        inner["retry_after"] = {"type": "integer", "minimum": 1,
                                "description": "seconds until the next attempt may pass"}
    return obj({"error": obj(inner)})


STATUS_TEXT = {
    400: "Malformed request: body, field, parameter or session id",
    401: "No valid staff token (missing, malformed, wrong type, expired, or a revoked link)",
    403: "The token lacks the role, or the session or record belongs to someone else",
    404: "No such session, record or access code",
    409: "The session's state does not allow this",
    410: "The session has ended; only its contact record remains",
    413: "A body or field over its size limit",
    429: "Too many attempts; wait `Retry-After` seconds",
    500: "Unexpected server error (a bug: please report it)",
    503: "Temporarily unavailable; try again",
}


def error_response(status: int) -> Schema:
    out: Schema = {
        "description": STATUS_TEXT[status],
        "content": {"application/json": {
            "schema": error_schema(codes_with_status(status), retry_after=status == 429),
        }},
    }
    if status == 429:
        out["headers"] = {"Retry-After": {
            "description": "seconds until the next attempt may pass",
            "required": True,
            "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
        }}
    return out


def ok(schema_name: str, description: str, status: int = 200) -> dict[str, Schema]:
    return {str(status): {
        "description": description,
        "content": {"application/json": {"schema": ref(schema_name)}},
    }}


def errors(*statuses: int) -> dict[str, Schema]:
    # every operation may fail unexpectedly; documented so a client knows the body's shape
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in (*statuses, 500)}


def json_body(schema_name: str) -> Schema:
    return {"required": True,
            "content": {"application/json": {"schema": ref(schema_name)}}}


Security = list[dict[str, list[str]]]
STAFF: Security = [{"staffBearer": []}]
PUBLIC: Security = []
CUSTOMER: Security = [{"customerBearer": []}]
CALLBACK: Security = [{"callbackBearer": []}]
STAFF_OR_PUBLIC: Security = [{}, {"staffBearer": []}]
CALLBACK_PARAM: Schema = {"name": "callback", "in": "path", "required": True,
                          "schema": {"type": "string",
                                     "pattern": anchored(CALLBACK_ID.pattern)}}
TEAM_PARAM: Schema = {"name": "team", "in": "path", "required": True, "schema": ref("TeamId")}
STAFF_PARAM: Schema = {"name": "staff", "in": "path", "required": True,
                       "schema": {"type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$"}}
SESSION_PARAM: Schema = {
    "name": "session", "in": "path", "required": True, "schema": ref("SessionId"),
}


def operation(op_id: str, summary: str, tag: str, security: Security,
              responses: dict[str, Schema], **extra: Any) -> Schema:
    return {"operationId": op_id, "summary": summary, "tags": [tag], "security": security,
            "responses": responses, **extra}


# ---------------------------------------------------------------- components

TIME = {"type": "number", "description": "Unix seconds"}
SECONDS = {"type": "number", "minimum": 0}
COUNT = {"type": "integer", "minimum": 0}
TIME_INPUT: Schema = {
    "description": "Unix seconds, or ISO 8601 with a zone offset "
                   "(e.g. 2026-11-23T10:00:00+01:00; at most 40 characters)",
    "oneOf": [{"type": "number"}, {"type": "string", "maxLength": 40}],
}
LIVE_STATES = [str(State.SCHEDULED), str(State.WAITING), str(State.ACTIVE)]

SESSION_PROPERTIES: dict[str, Schema] = {
    "session": ref("SessionId"),
    "state": ref("State"),
    "channel": nullable(ref("Channel")),
    "planned_channel": ref("Channel"),
    "planned_start": TIME,
    "media_up": {"type": "boolean"},
    "end_reason": nullable(ref("EndReason")),
    "customer_present": {"type": "boolean"},
    "customer": nullable(ref("CustomerCard")),
    "access_code": ref("AccessCode"),
    "access_code_display": ref("AccessCodeDisplay"),
    "team": ref("TeamId"),
    "customer_ref": ref("CustomerRef"),
    "kind": {"type": "string", "enum": [str(k) for k in Kind]},
}
CALLBACK_VIEW: dict[str, Schema] = {
    "callback": {"type": "string", "pattern": anchored(CALLBACK_ID.pattern)},
    "state": {"type": "string", "enum": [str(c) for c in CallbackState]},
    "team": ref("TeamId"),
    "topic": ref("Topic"),
    "language": ref("Language"),
    "urgent": {"type": "boolean"},
    "reach": {"type": "string", "enum": [str(r) for r in Reach]},
    "deadline": TIME,
    "window": nullable({"type": "array", "items": TIME, "minItems": 2, "maxItems": 2}),
    "ringing": nullable(obj({"session": ref("SessionId"), "token": {"type": "string"}},
                            description="a counsellor calls back by video now: the "
                                        "session's customer token")),
}
LINK_PROPERTIES: dict[str, Schema] = {
    "customer_token": {"type": "string", "description": "the customer's JWT"},
    "join_url": {"type": "string", "pattern": "/j#[^#]+$",
                 "description": "the link to send; the token travels in the fragment"},
    "expires_at": TIME,
}


def schemas() -> dict[str, Schema]:
    contact_record = obj(
        {
            "session_id": ref("SessionId"),
            "team": ref("TeamId"),
            "counsellor": {"type": "string"},
            "customer_ref": ref("CustomerRef"),
            "kind": {"type": "string", "enum": [str(k) for k in Kind]},
            "state": {"type": "string",
                      "enum": [str(s) for s in State if s.terminal]},
            "planned_channel": ref("Channel"),
            "planned_start": TIME,
            "created_at": TIME,
            "joined_at": nullable(TIME),
            "admitted_at": nullable(TIME),
            "media_connected_at": nullable(TIME),
            "ended_at": TIME,
            "end_reason": ref("EndReason"),
            "seconds": obj({str(c): SECONDS for c in Channel}),
            "waiting_seconds": nullable(SECONDS),
            "setup_seconds": nullable(SECONDS),
            "fallback_used": {"type": "boolean"},
            "satisfaction": nullable({"type": "integer", "minimum": 1, "maximum": 5,
                                      "description": "the customer's rating after the call"}),
            "segments": {"type": "array", "items": {
                "type": "array", "minItems": 3, "maxItems": 3,
                "prefixItems": [ref("Channel"), TIME, TIME], "items": False,
                "description": "[channel, start, end]",
            }},
        },
        description="One per ended session, written once. No name, no access code.",
    )
    dropin_figures = obj({
        "topics": {"type": "object", "propertyNames": {"enum": list(TOPICS)},
                   "additionalProperties": obj({"waiting": COUNT,
                                                "oldest_wait_seconds": nullable(SECONDS)})},
        "presence": obj({str(p): COUNT for p in Presence}),
        "today": obj({
            "answered": COUNT, "abandoned": COUNT,
            "service_level": {**nullable({"type": "number", "minimum": 0, "maximum": 1}),
                              "description": "answered within target_seconds / answered"},
            "abandonment_rate": {**nullable({"type": "number", "minimum": 0, "maximum": 1}),
                                 "description": "left before being answered / all "
                                                "finished drop-ins"},
            "target_seconds": SECONDS,
        }),
    }, description="the team's drop-in queues by topic, its counsellors by presence, today")
    team_load = obj({
        "sessions": obj({s: COUNT for s in LIVE_STATES}),
        "channels": obj({str(c): COUNT for c in Channel}),
        "waiting": COUNT,
        "oldest_wait_seconds": nullable(SECONDS),
        "counsellors": obj({"online": COUNT, "busy": COUNT, "free": COUNT}),
    }, {"dropin": dropin_figures, "callbacks": obj({
        "open": {**COUNT, "description": "requests not settled"},
        "claimed": {**COUNT, "description": "of them, held by a counsellor right now"},
        "due_today": {**COUNT, "description": "due by the end of today, not overdue"},
        "overdue": COUNT,
        "topics": {"type": "object", "propertyNames": {"enum": list(TOPICS)},
                   "additionalProperties": COUNT},
    }, description="the team's callback requests not settled")})
    number_or_null = nullable({"type": "number", "minimum": 0})
    rate = nullable({"type": "number", "minimum": 0, "maximum": 1})
    figures: dict[str, Schema] = {
        "contacts": {**COUNT, "description": "records where the customer was admitted"},
        "seconds": obj({k: obj({"total": SECONDS, "mean": number_or_null,
                                "median": number_or_null, "p90": number_or_null})
                        for k in SECONDS_KEYS}),
        "waiting_seconds": obj({"mean": number_or_null, "p90": number_or_null}),
        "no_show_rate": {**rate, "description": "no-shows / records not cancelled"},
        "fallback_rate": {**rate, "description": "contacts with fallback_used / contacts"},
        "connection_failure_rate": {**rate, "description": "contacts ended "
                                    "connection_failed / contacts"},
        "outside_hours_share": {**rate, "description": "contacts admitted outside the "
                                "opening hours / contacts"},
        "satisfaction": obj({"count": COUNT, "mean": nullable(
            {"type": "number", "minimum": 1, "maximum": 5})}),
    }
    group_values: dict[str, Schema] = {
        "day": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "week": {"type": "string", "pattern": "^[0-9]{4}-W[0-9]{2}$"},
        "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
        "team": {"type": "string"},
        "counsellor": {"type": "string"},
        "channel": {"type": "string", "enum": [*(str(c) for c in Channel), NO_CHANNEL]},
        "kind": {"type": "string", "enum": [str(k) for k in Kind]},
    }
    all_codes = [str(c) for c in ErrorCode]
    code_table = ", ".join(f"`{c}` {BrokerError(c, '').http_status}" for c in ErrorCode)
    return {
        "SessionId": {"type": "string", "pattern": anchored(SESSION_ID.pattern)},
        "TeamId": {"type": "string", "pattern": anchored(TEAM.pattern)},
        "CustomerRef": {"type": "string", "pattern": anchored(api.CUSTOMER_REF.pattern),
                        "description": "the counsellor's pseudonymous reference, never a name"},
        "AccessCode": {"type": "string",
                       "pattern": f"^[0-9]{{{ACCESS_CODE_DIGITS}}}$"},
        "AccessCodeDisplay": {"type": "string", "pattern": "^[0-9]{3}( [0-9]{3})*$",
                              "description": "the access code in groups of three"},
        "Channel": {"type": "string", "enum": [str(c) for c in Channel]},
        "State": {"type": "string", "enum": [str(s) for s in State]},
        "EndReason": {"type": "string", "enum": [str(r) for r in EndReason]},
        "Language": {"type": "string", "enum": list(LANGUAGES)},
        "Capabilities": obj({"webrtc": {"type": "boolean"}, "camera": {"type": "boolean"},
                             "microphone": {"type": "boolean"}}),
        "CustomerCard": obj({
            "name": {"type": "string", "maxLength": 64},
            "language": ref("Language"),
            "capabilities": ref("Capabilities"),
            "waiting_since": nullable(TIME),
        }, description="what the customer told on joining; only ever shown to the counsellor"),
        "Session": obj(SESSION_PROPERTIES, description="A live session as its counsellor sees it"),
        "CreatedSession": obj({**SESSION_PROPERTIES, **LINK_PROPERTIES}),
        "SessionList": obj({
            "sessions": {"type": "array", "items": ref("Session"),
                         "description": "the caller's live sessions, by planned start"},
            "closed_today": {"type": "array", "items": ref("ContactRecord"),
                             "description": "the caller's records ended since 00:00 "
                                            "in CB_REPORT_TIMEZONE (Europe/Berlin)"},
        }),
        "Link": obj({
            "session": ref("SessionId"),
            **LINK_PROPERTIES,
            "link_generation": COUNT,
            "access_code": ref("AccessCode"),
            "access_code_display": ref("AccessCodeDisplay"),
        }),
        "LinkRevoked": obj({"session": ref("SessionId"), "revoked": {"const": True},
                            "link_generation": COUNT}),
        "Cancelled": obj({"session": ref("SessionId"),
                          "state": {"type": "string", "enum": [str(State.CANCELLED)]}}),
        "ContactRecord": contact_record,
        "ContactList": obj({"contacts": {"type": "array", "items": ref("ContactRecord")}}),
        "TeamLoad": team_load,
        "ReportFigures": obj(figures, description="see docs/protocol.md section 5.2"),
        "ReportRow": obj({"group": obj({}, group_values,
                                       description="the values of `group_by`, in order"),
                          **figures}),
        "Report": obj({
            "from": TIME,
            "to": TIME,
            "timezone": {"type": "string"},
            "group_by": {"type": "array", "items": {"type": "string", "enum": list(GROUPS)}},
            "rows": {"type": "array", "items": ref("ReportRow"),
                     "description": "groups holding at least one record, sorted"},
            "total": ref("ReportFigures"),
            "queues": {"type": "object", "additionalProperties": obj({
                "dropins": obj({
                    "answered": COUNT, "abandoned": COUNT, "answered_in_target": COUNT,
                    "service_level": {**rate, "description": "answered within the target "
                                      "wait (CB_DROPIN_TARGET_SECONDS) / answered"},
                    "abandonment_rate": {**rate, "description": "abandoned / ended waits"},
                    "wait_seconds": obj({"mean": number_or_null, "p90": number_or_null}),
                }, description="drop-in waits that ended in the period"),
                "callbacks": obj({
                    "done": COUNT, "unreached": COUNT, "cancelled": COUNT,
                    "done_in_time": COUNT,
                    "in_time_rate": {**rate, "description": "done by the deadline / done"},
                }, description="callback requests settled in the period"),
            }), "description": "per team: the drop-in queue and the callback requests "
                               "(docs/protocol.md 5.2)"},
        }),
        "Load": obj({
            "at": TIME,
            "version": COUNT,
            "teams": {"type": "object", "additionalProperties": ref("TeamLoad")},
        }, description="live load per team: the caller's teams, admins all"),
        "ClientConfig": obj({
            "protocol": {"const": PROTOCOL_VERSION},
            "hotline": {"type": "string"},
            "languages": {"type": "array", "items": ref("Language")},
        }),
        "Topic": {"type": "string", "enum": list(TOPICS)},
        "DropInEntry": obj({
            "team": ref("TeamId"),
            "topics": {"type": "array", "items": ref("Topic"),
                       "description": "what a customer may choose (CB_DROPIN_TOPICS)"},
            "languages": {"type": "array", "items": ref("Language")},
            "staffed": {"type": "boolean",
                        "description": "someone of the team takes drop-ins right now"},
            "open": {"type": "boolean", "description": "within the team's opening hours "
                                                       "and not a holiday: tickets are taken"},
        }, {
            "overflow": {**nullable({"type": "string", "enum": ["closed", "nobody", "wait"]}),
                         "description": "with ?topic=: a callback is better (closed: no "
                                        "waiting now; nobody: no counsellor for it is "
                                        "taking drop-ins; wait: the estimate passes "
                                        "CB_DROPIN_MAX_WAIT_SECONDS)"},
            "estimate_seconds": nullable(COUNT),
        }),
        "DropInRequest": obj({"topic": ref("Topic")}, {
            "language": {**ref("Language"), "default": "de"},
            "capabilities": ref("Capabilities"),
        }),
        "Ticket": obj({
            "ticket": {"type": "string", "pattern": anchored(TICKET_ID.pattern)},
            "token": {"type": "string", "description": "the ticket's JWT: for the /queue "
                                                       "socket, keep it to return after a "
                                                       "reload"},
            "expires_at": TIME,
            "state": {"const": "waiting"},
            "team": ref("TeamId"),
            "topic": ref("Topic"),
            "language": ref("Language"),
            "position": {"type": "integer", "minimum": 1},
            "estimate_seconds": {**nullable(COUNT), "description": "null: nobody who "
                                 "serves this topic and language is signed in"},
        }),
        "CallbackRequest": obj({"team": ref("TeamId"), "topic": ref("Topic")}, {
            "language": {**ref("Language"), "default": "de"},
            "urgent": {"type": "boolean", "default": False,
                       "description": "by the end of the working day (else two working "
                                      "days)"},
            "reach": {"type": "string", "enum": [str(r) for r in Reach],
                      "default": str(Reach.PHONE)},
            "phone": {"type": "string", "maxLength": 40,
                      "description": "reach phone only: a German (0...) or international "
                                     "(+...) number"},
            "window": obj({"from": TIME_INPUT, "to": TIME_INPUT},
                          description="the customer's preferred time, within 14 days"),
            "source": {"type": "string", "enum": [str(Source.ENTRY), str(Source.OVERFLOW)],
                       "description": "without a staff token; with one it is `api`"},
            "consent": {"type": "boolean", "description": "must be true without a staff "
                                                          "token: the customer agreed"},
        }),
        "CallbackState": obj(CALLBACK_VIEW, description="what the customer's personal page "
                                                         "shows (never the number)"),
        "CallbackCreated": obj({**CALLBACK_VIEW, "token": {
            "type": "string", "description": "the personal link's JWT (/r#...)"},
            "expires_at": TIME}),
        "CallbackItem": obj({
            "callback": {"type": "string", "pattern": anchored(CALLBACK_ID.pattern)},
            "team": ref("TeamId"),
            "topic": ref("Topic"),
            "language": ref("Language"),
            "urgent": {"type": "boolean"},
            "reach": {"type": "string", "enum": [str(r) for r in Reach]},
            "phone": {**nullable({"type": "string"}),
                      "description": "whole for the counsellor holding the request, "
                                     "masked for others; null for video"},
            "window": nullable({"type": "array", "items": TIME, "minItems": 2,
                                "maxItems": 2}),
            "created_at": TIME,
            "deadline": TIME,
            "state": {"type": "string", "enum": ["open", "mine", "taken"]},
            "status": {"type": "string", "enum": [str(c) for c in CallbackState]},
            "attempts": {**COUNT, "description": "failed attempts so far"},
            "last_outcome": nullable({"type": "string", "enum": [str(o) for o in Outcome]}),
            "session": nullable(ref("SessionId")),
            "claim_until": nullable(TIME),
        }, description="a request as a counsellor sees it"),
        "CallbackList": obj({"callbacks": {"type": "array", "items": ref("CallbackItem"),
                                           "description": "earliest deadline first"},
                             "now": TIME}),
        "CallbackStarted": obj({"callback": ref("CallbackItem"), "session": ref("Session")}),
        "CallbackAttempt": obj({"outcome": {"type": "string",
                                            "enum": [str(o) for o in Outcome]}}),
        "CallbackAttempts": obj({"attempts": {"type": "array", "items": obj({
            "at": TIME, "outcome": {"type": "string", "enum": [str(o) for o in Outcome]}})}}),
        "Skills": obj({
            "staff": {"type": "string"},
            "set": {"type": "boolean", "description": "false: nothing set yet, these are "
                                                      "the defaults"},
            "teams": {"type": "array", "items": ref("TeamId"),
                      "description": "empty: every team of the counsellor's sign-in"},
            "topics": {"type": "array", "items": ref("Topic")},
            "languages": {"type": "array", "items": {"type": "string",
                                                     "pattern": "^[a-z]{2}$"}},
        }),
        "SkillsUpdate": obj({
            "topics": {"type": "array", "items": ref("Topic"), "minItems": 1,
                       "maxItems": 64},
            "languages": {"type": "array", "minItems": 1, "maxItems": 64,
                          "items": {"type": "string", "pattern": "^[a-z]{2}$"}},
        }, {"teams": {"type": "array", "items": ref("TeamId"), "maxItems": 64}}),
        "Health": obj({
            "status": {"const": "ok"},
            "node": {"type": "string"},
            "contact_log_ms": SECONDS,
        }),
        "CreateSession": obj(
            {"customer_ref": ref("CustomerRef")},
            {
                "planned_start": {**nullable(TIME_INPUT),
                                  "description": f"{TIME_INPUT['description']}; within a "
                                                 "year of now; default (or null) now"},
                "planned_channel": {**ref("Channel"), "default": str(Channel.VIDEO)},
                "team": {**nullable(ref("TeamId")),
                         "description": "one of the caller's teams; may be left out (or "
                                        "null) when the token names exactly one team"},
            },
        ),
        "Rating": obj({"score": {"type": "integer", "minimum": 1, "maximum": 5,
                                 "description": "1 (not at all) to 5 (very) satisfied"}}),
        "Rated": obj({"session": ref("SessionId"),
                      "satisfaction": {"type": "integer", "minimum": 1, "maximum": 5}}),
        "JoinByCode": obj({"code": {
            "type": "string", "maxLength": 32,
            "description": f"{ACCESS_CODE_DIGITS} digits; spaces and - . / are ignored",
        }}),
        "Error": {**error_schema(all_codes),
                  "description": f"Every refusal. Codes and their HTTP status: {code_table}"},
    }


# ---------------------------------------------------------------- paths


_GROUP = "(?:" + "|".join(GROUPS) + ")"
GROUP_BY_PATTERN = f"^(?:{_GROUP}(?:,{_GROUP})*)?$"


def paths() -> dict[str, Schema]:
    session = [SESSION_PARAM]
    return {
        "/api/sessions": {
            "post": operation(
                "createSession", "Create a session for an appointment", "sessions", STAFF,
                {**ok("CreatedSession", "The session with its link and access code", 201),
                 **errors(400, 401, 403, 413, 503)},
                requestBody=json_body("CreateSession"),
                description="Counsellors only. The body is a JSON object of these fields "
                            "only (anything else is 400).",
            ),
            "get": operation(
                "listSessions", "The caller's live sessions and today's closed ones",
                "sessions", STAFF,
                {**ok("SessionList", "Live sessions and today's records"), **errors(401, 403)},
            ),
        },
        "/api/sessions/{session}": {
            "get": operation(
                "getSession", "One of the caller's sessions", "sessions", STAFF,
                {**ok("Session", "The session"), **errors(400, 401, 403, 404, 410)},
                parameters=session,
            ),
        },
        "/api/sessions/{session}/link": {
            "get": operation(
                "getLink", "The session's current link and code again (revokes nothing)",
                "links", STAFF,
                {**ok("Link", "The current link"), **errors(400, 401, 403, 404, 410)},
                parameters=session,
            ),
            "post": operation(
                "reissueLink", "A new link and access code; older ones stop working",
                "links", STAFF,
                {**ok("Link", "The new link"), **errors(400, 401, 403, 404, 410, 503)},
                parameters=session,
                description="Customer sockets that came in with an older link are turned "
                            "away; the link may bind to a new device.",
            ),
            "delete": operation(
                "revokeLink", "Revoke the link and code without handing out new ones",
                "links", STAFF,
                {**ok("LinkRevoked", "Revoked"), **errors(400, 401, 403, 404, 410, 503)},
                parameters=session,
            ),
        },
        "/api/sessions/{session}/cancel": {
            "post": operation(
                "cancelSession", "Cancel a scheduled or waiting session", "sessions", STAFF,
                {**ok("Cancelled", "Cancelled; both parties get `ended`"),
                 **errors(400, 401, 403, 404, 409, 410)},
                parameters=session,
            ),
        },
        "/api/join": {
            "post": operation(
                "joinByCode", "Exchange an access code for the session's link", "links", PUBLIC,
                {**ok("Link", "The session's current link"),
                 **errors(400, 404, 413, 429)},
                requestBody=json_body("JoinByCode"),
                description="Limited per client address (rate and lock-out after repeated "
                            "wrong codes), for everyone together, and per code; a refused "
                            "attempt answers 429 with `Retry-After`. A malformed or unknown "
                            "code is 404 `invalid_code`.",
            ),
        },
        "/api/rating": {
            "post": operation(
                "rateContact", "The customer rates the ended conversation", "links", CUSTOMER,
                {**ok("Rated", "Kept with the contact record"),
                 **errors(400, 401, 404, 409, 413)},
                requestBody=json_body("Rating"),
                description="With the customer link's token, after the session ended; once "
                            "(a second rating is 409 `conflict`). Stored with the contact "
                            "record, never with a name.",
            ),
        },
        "/api/dropin/{team}": {
            "get": operation(
                "getDropInEntry", "What a team's drop-in entry page offers", "dropin", PUBLIC,
                {**ok("DropInEntry", "Topics, languages, and whether anyone is taking "
                      "drop-ins"), **errors(400, 503)},
                parameters=[TEAM_PARAM,
                            {"name": "topic", "in": "query", "required": False,
                             "schema": ref("Topic")},
                            {"name": "language", "in": "query", "required": False,
                             "schema": ref("Language")}],
                description="503 `unavailable` while the broker runs as several processes.",
            ),
            "post": operation(
                "openTicket", "Queue a customer without an appointment", "dropin", PUBLIC,
                {**ok("Ticket", "The ticket and the customer's place", 201),
                 **errors(400, 409, 413, 429, 503)},
                parameters=[TEAM_PARAM],
                requestBody=json_body("DropInRequest"),
                description="Limited per client address. The customer then waits on the "
                            "`/queue` socket with the ticket's token (docs/protocol.md). "
                            "409 `queue_closed` outside the team's opening hours.",
            ),
        },
        "/api/callbacks": {
            "post": operation(
                "requestCallback", "A customer asks to be called back", "callbacks",
                STAFF_OR_PUBLIC,
                {**ok("CallbackCreated", "The request, its deadline and the personal link's "
                      "token", 201), **errors(400, 401, 403, 413, 429)},
                requestBody=json_body("CallbackRequest"),
                description="Public (limited per client address, consent required), or "
                            "with a staff token (a counsellor or a contact form's account: "
                            "source `api`, not limited).",
            ),
            "get": operation(
                "listCallbacks", "The caller's callback worklist", "callbacks", STAFF,
                {**ok("CallbackList", "Requests of the counsellor's teams, topics and "
                      "languages, and those they hold"), **errors(401, 403)},
                description="Counsellors.",
            ),
        },
        "/api/callbacks/mine": {
            "get": operation(
                "getMyCallback", "The customer's request, as their personal page shows it",
                "callbacks", CALLBACK, {**ok("CallbackState", "The request"),
                                        **errors(401, 404)},
            ),
            "delete": operation(
                "withdrawCallback", "The customer withdraws the request", "callbacks",
                CALLBACK, {**ok("CallbackState", "The request, cancelled (a settled one "
                                "stays as it was)"), **errors(401, 404)},
            ),
        },
        **{f"/api/callbacks/{{callback}}/{step}": {"post": operation(
            op, summary, "callbacks", STAFF,
            {**ok("CallbackItem", "The request as it is now"),
             **errors(400, 401, 403, 404, 409)},
            parameters=[CALLBACK_PARAM], description=text,
        )} for step, op, summary, text in (
            ("claim", "claimCallback", "Claim a request (exactly one counsellor gets it)",
             "409 `callback_taken` if someone else holds it, `callback_settled` if it is "
             "settled. Claiming one's own again renews the claim."),
            ("release", "releaseCallback", "Give a claimed request back untried",
             "Not while a call for it is going on."),
        )},
        "/api/callbacks/{callback}/start": {"post": operation(
            "startCallback", "Call the customer back: a session of kind callback starts",
            "callbacks", STAFF,
            {**ok("CallbackStarted", "The request and the new session", 201),
             **errors(400, 401, 403, 404, 409)},
            parameters=[CALLBACK_PARAM],
            description="By video the customer's personal page rings with the session's "
                        "link; by phone the counsellor dials and reports `phone_connected`. "
                        "The end of the call settles the request (talked: done; nobody "
                        "came: a failed attempt).",
        )},
        "/api/callbacks/{callback}/attempts": {
            "post": operation(
                "recordCallbackAttempt", "Record an attempt by the counsellor holding it",
                "callbacks", STAFF,
                {**ok("CallbackItem", "The request as it is now", 201),
                 **errors(400, 401, 403, 404, 409, 413)},
                parameters=[CALLBACK_PARAM], requestBody=json_body("CallbackAttempt"),
                description="reached: done; wrong_number: unreached at once; not_reached: "
                            "back on the list, unreached after CB_CALLBACK_MAX_ATTEMPTS. A "
                            "call started for it that has not begun is called off.",
            ),
            "get": operation(
                "listCallbackAttempts", "The attempts made so far", "callbacks", STAFF,
                {**ok("CallbackAttempts", "Oldest first"), **errors(400, 401, 403, 404)},
                parameters=[CALLBACK_PARAM],
            ),
        },
        "/api/staff/{staff}/skills": {
            "get": operation(
                "getSkills", "A counsellor's drop-in skills", "dropin", STAFF,
                {**ok("Skills", "What is set, or the defaults"), **errors(400, 401, 403)},
                parameters=[STAFF_PARAM], description="Admins only.",
            ),
            "put": operation(
                "setSkills", "Set a counsellor's drop-in teams, topics and languages",
                "dropin", STAFF,
                {**ok("Skills", "As stored"), **errors(400, 401, 403, 413)},
                parameters=[STAFF_PARAM], requestBody=json_body("SkillsUpdate"),
                description="Admins only. A connected console routes by them at once.",
            ),
        },
        "/api/load": {
            "get": operation(
                "getLoad", "Live load of the caller's teams", "supervision", STAFF,
                {**ok("Load", "Load snapshot"), **errors(401, 403)},
                description="Supervisors (admins: every team).",
            ),
        },
        "/api/contacts": {
            "get": operation(
                "listContacts", "Contact records ended in [from, to)", "supervision", STAFF,
                {**ok("ContactList", "Records, oldest first"), **errors(400, 401, 403)},
                parameters=[
                    {"name": "from", "in": "query", "required": False,
                     "schema": {"type": "string"},
                     "description": "Unix seconds or ISO 8601 with zone; default now - 24 h"},
                    {"name": "to", "in": "query", "required": False,
                     "schema": {"type": "string"},
                     "description": "Unix seconds or ISO 8601 with zone; default now + 1 s"},
                ],
                description="Admins see all, supervisors their teams, counsellors their own.",
            ),
        },
        "/api/reports": {
            "get": operation(
                "getReport", "Contact figures for a period, grouped", "supervision", STAFF,
                {"200": {
                    "description": "The report: JSON, or CSV as an attachment",
                    "content": {
                        "application/json": {"schema": ref("Report")},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                }, **errors(400, 401, 403, 503)},
                parameters=[
                    {"name": "from", "in": "query", "required": True,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 40},
                     "example": "2026-11-01",
                     "description": "a date (local midnight in the report time zone), "
                                    "ISO 8601 (without offset: local time) or Unix seconds"},
                    {"name": "to", "in": "query", "required": True,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 40},
                     "example": "2026-12-01",
                     "description": "the same, exclusive; at most 400 days after from"},
                    {"name": "group_by", "in": "query", "required": False,
                     "schema": {"type": "string", "pattern": GROUP_BY_PATTERN},
                     "example": "week,team,channel",
                     "description": "comma list of " + ", ".join(GROUPS)},
                    {"name": "team", "in": "query", "required": False,
                     "schema": ref("TeamId"),
                     "description": "one team (a supervisor: one they lead)"},
                    {"name": "format", "in": "query", "required": False,
                     "schema": {"type": "string", "enum": list(reports.FORMATS),
                                "default": "json"},
                     "description": "csv: RFC 4180; csv-de: semicolons, decimal comma, "
                                    "UTF-8 with BOM"},
                ],
                description="Supervisors for the teams they lead, admins for all; grouping "
                            "by counsellor only within those teams. Before the retention "
                            "horizon (CB_RETENTION_DAYS) only whole days and no counsellor "
                            "grouping (400 otherwise). Definitions of every figure: "
                            "docs/protocol.md section 5.2.",
            ),
        },
        "/api/contacts/{session}": {
            "get": operation(
                "getContact", "One contact record", "supervision", STAFF,
                {**ok("ContactRecord", "The record"), **errors(400, 401, 403, 404)},
                parameters=session,
                description="Its counsellor, a supervisor of its team, or an admin.",
            ),
        },
        "/api/config": {
            "get": operation(
                "getClientConfig", "What the pages need to know", "service", PUBLIC,
                {**ok("ClientConfig", "Protocol version, hotline, languages"), **errors()},
            ),
        },
        PATH: {
            "get": operation(
                "getOpenApi", "This document", "service", PUBLIC,
                {"200": {"description": "OpenAPI 3.1",
                         "content": {"application/json": {"schema": {"type": "object"}}}},
                 **errors()},
            ),
        },
        "/healthz": {
            "get": operation(
                "health", "Liveness: the process answers and its contact log responds",
                "service", PUBLIC,
                {**ok("Health", "Healthy"), **errors()},
            ),
        },
    }


def document() -> Schema:
    statuses = sorted(STATUS_TEXT)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "counselling-broker REST API",
            "version": _version(),
            "description": f"Signalling protocol version {PROTOCOL_VERSION}; the socket.io "
                           "events are described in docs/protocol.md. Bodies are JSON "
                           "objects of the listed fields only. Every refusal is "
                           "`{error: {code, message}}`. A method a path does not list is "
                           "answered 405 with an `Allow` header.",
        },
        "tags": [{"name": t} for t in ("sessions", "links", "supervision", "dropin",
                                        "callbacks", "service")],
        "paths": paths(),
        "components": {
            "securitySchemes": {"customerBearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "The customer link's token (the part after `/j#`).",
            }, "callbackBearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A callback request's personal link token (after `/r#`).",
            }, "staffBearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A staff token: ours (HS256, `counselling-broker token`) or "
                               "the identity provider's (OpenID Connect). Roles: counsellor, "
                               "supervisor, admin.",
            }},
            "schemas": schemas(),
            "responses": {f"E{s}": error_response(s) for s in statuses},
        },
    }


async def serve(request: web.Request) -> web.Response:
    return web.Response(body=request.app[_DOCUMENT], content_type="application/json")


def setup(app: web.Application) -> None:
    app[_DOCUMENT] = json.dumps(document(), indent=1).encode()
    app.router.add_get(PATH, serve)
