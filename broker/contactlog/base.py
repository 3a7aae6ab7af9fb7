"""What the contact log promises, whatever database is underneath.

- `append` writes a session's inputs ahead, as they happen, so a crash loses nothing;
  `(session_id, seq)` is unique, so the same step can never be written twice.
- `close` writes the contact record once: a second close of the same session is a no-op
  that returns False. It also drops the session's write-ahead events (data minimisation).
- `unfinished` returns the event streams of sessions that have no record yet, for recovery.
- The daily roll-up (broker/rollup.py): `close_session` adds the record's share to its
  day's row and `rate` the rating's, in the same transaction, so the roll-up is always the
  sum of every record ever closed, including those retention has since deleted
  (`purge_contacts`). `open` rebuilds it from the records still there when the basis
  (report time zone, opening hours) differs from the one it was made with, or was never
  made (a database from before the roll-up).
- The webhook outbox: `append` and `close_session` take the outbox entries their step
  causes and write them in the same transaction, so a crash can neither lose an event nor
  invent one (a step that conflicts, or a record that exists already, writes none).
  `claim_outbox` leases due rows to one process, the oldest undelivered row of each
  (session, URL) only, so that a session's events go out in order; `outbox_delivered` and
  `outbox_failed` settle a claim; `purge_outbox` forgets settled rows after a while.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from broker.callbacks import (
    Attempt,
    CallbackRequest,
    CallbackState,
    Change,
    Outcome,
    Reach,
    Source,
)
from broker.queue_report import Wait
from broker.record import ContactRecord
from broker.rollup import COUNTERS, KEY_COLUMNS, RollupColumns
from broker.routing import Skills

# the contacts table's columns, the same on every backend
CONTACT_COLUMNS = (
    "session_id", "team", "counsellor", "customer_ref", "kind", "state", "planned_channel",
    "planned_start", "created_at", "joined_at", "admitted_at", "media_connected_at",
    "ended_at", "end_reason", "video_seconds", "audio_seconds", "phone_seconds",
    "waiting_seconds", "setup_seconds", "fallback_used", "segments",
)
_CHANNELS = ("video", "audio", "phone")


def contact_values(r: ContactRecord) -> dict[str, Any]:
    """A record as column -> value (segments still a list: each backend stores it its way)."""
    d = r.to_dict()
    seconds = d.pop("seconds")
    d.update({f"{c}_seconds": seconds[c] for c in _CHANNELS})
    return {column: d[column] for column in CONTACT_COLUMNS}


def contact_from_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse: the shape of `ContactRecord.to_dict()` (segments already decoded)."""
    d = dict(row)
    d["fallback_used"] = bool(d["fallback_used"])
    d["seconds"] = {c: d.pop(f"{c}_seconds") for c in _CHANNELS}
    return d


ROLLUP_COLUMNS = (*KEY_COLUMNS, *COUNTERS, "hist")


def rollup_insert(marks: Sequence[str]) -> str:
    return (f"INSERT INTO contact_days ({', '.join(ROLLUP_COLUMNS)}) "  # noqa: S608
            f"VALUES ({', '.join(marks)})")


def rollup_upsert(marks: Sequence[str], join_hist: str) -> str:
    """The statement that adds a row's share to the roll-up: counters are summed by the
    database; `join_hist` is the new value of `hist` (the backends join bytes their way)."""
    sums = ", ".join(f"{c} = contact_days.{c} + excluded.{c}" for c in COUNTERS)
    return (f"{rollup_insert(marks)} ON CONFLICT ({', '.join(KEY_COLUMNS)}) "
            f"DO UPDATE SET {sums}, hist = {join_hist}")


def rollup_select(day_marks: tuple[str, str]) -> str:
    return (f"SELECT {', '.join(ROLLUP_COLUMNS)} FROM contact_days "  # noqa: S608
            f"WHERE day >= {day_marks[0]} AND day < {day_marks[1]}")


def skills_to_columns(s: Skills) -> tuple[str, str, str]:
    return ",".join(sorted(s.teams)), ",".join(sorted(s.topics)), ",".join(sorted(s.languages))


def skills_from_columns(teams: str, topics: str, languages: str) -> Skills:
    def split(text: str) -> frozenset[Any]:
        return frozenset(x for x in text.split(",") if x)

    return Skills(split(teams), split(topics), split(languages))


CALLBACK_COLUMNS = (
    "id", "team", "topic", "language", "urgent", "reach", "contact", "window_from",
    "window_to", "source", "created_at", "deadline", "state", "claimed_by", "claim_until",
    "attempts", "session_id", "closed_at", "outcome",
)
ATTEMPT_COLUMNS = ("callback_id", "at", "staff", "outcome", "session_id")
# not settled (the worklist, the supervisors' figures): few rows, read whole
UNSETTLED = "state IN ('open', 'claimed')"


def callback_values(r: CallbackRequest) -> tuple[Any, ...]:
    """A request as the row's values, in CALLBACK_COLUMNS order (urgent as a bool)."""
    return tuple(getattr(r, c) if not isinstance(getattr(r, c), StrEnum)
                 else str(getattr(r, c)) for c in CALLBACK_COLUMNS)


def callback_from_row(row: Mapping[str, Any]) -> CallbackRequest:
    d = {c: row[c] for c in CALLBACK_COLUMNS}
    d["urgent"] = bool(d["urgent"])
    d["reach"] = Reach(d["reach"])
    d["source"] = Source(d["source"])
    d["state"] = CallbackState(d["state"])
    d["outcome"] = None if d["outcome"] is None else Outcome(d["outcome"])
    return CallbackRequest(**d)


def attempt_values(a: Attempt) -> tuple[Any, ...]:
    return (a.callback_id, a.at, a.staff, str(a.outcome), a.session_id)


def attempt_from_row(row: Mapping[str, Any]) -> Attempt:
    return Attempt(row["callback_id"], row["at"], row["staff"], Outcome(row["outcome"]),
                   row["session_id"])


WAIT_COLUMNS = ("team", "topic", "language", "joined_at", "ended_at", "answered")


def wait_from_row(row: Mapping[str, Any]) -> Wait:
    return Wait(row["team"], row["topic"], row["language"], row["joined_at"],
                row["ended_at"], bool(row["answered"]))


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    seq: int
    at: float
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One webhook event for one target URL, to be written with the step that causes it.
    `body` is the exact JSON text every attempt sends (its signature covers it)."""

    event_id: str
    session_id: str
    type: str
    at: float
    url: str
    body: str


# what an outbox row is doing
PENDING, DELIVERED, GAVE_UP = "pending", "delivered", "gave_up"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An outbox row as read back: `at` is when the event happened (the row is due from
    then), `attempts` counts claims (the current one included), `next_at` is when it is due
    again, `done_at` when it was delivered or given up."""

    id: int
    event_id: str
    session_id: str
    type: str
    at: float
    url: str
    body: str
    status: str
    attempts: int
    next_at: float
    done_at: float | None
    last_error: str


OUTBOX_COLUMNS = ("id", "event_id", "session_id", "type", "at", "url", "body", "status",
                  "attempts", "next_at", "done_at", "last_error")


def outbox_row(row: Mapping[str, Any]) -> OutboxRow:
    return OutboxRow(**{c: row[c] for c in OUTBOX_COLUMNS})


# the head of its queue: pending, and the oldest unsettled row of its (session, URL). A
# claim takes heads that are also due and not leased (the same clause on both backends).
OUTBOX_HEAD = (
    "o.status = 'pending' AND NOT EXISTS (SELECT 1 FROM webhook_outbox p "
    "WHERE p.session_id = o.session_id AND p.url = o.url AND p.id < o.id "
    "AND p.status = 'pending')"
)


class ContactLog(Protocol):
    # called (on the event loop) after a write that added outbox rows: wakes the deliverer
    on_outbox: Callable[[], None] | None

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, session_id: str, seq: int, at: float, data: dict[str, Any],
                     outbox: Sequence[OutboxEntry] = ()) -> None:
        """Write one step ahead, and the outbox entries it causes, in one transaction."""

    async def close_session(self, record: ContactRecord,
                            outbox: Sequence[OutboxEntry] = ()) -> bool:
        """Write the record once (False: it existed already), and with it, in the same
        transaction and only if it is new, the outbox entries it causes."""

    async def unfinished(self, session_id: str | None = None) -> dict[str, list[LoggedEvent]]:
        """Event streams of sessions without a record (`session_id`: of that one only)."""

    async def heartbeat(self, node: str, at: float) -> None:
        """Mark this node alive at `at`: recovery closes interrupted sessions no earlier."""

    async def last_heartbeat(self, live_only: bool = False) -> float | None:
        """The latest beat of any node (`live_only`: of nodes that did not stop cleanly)."""

    async def retire(self, node: str, at: float) -> None:
        """This node stops cleanly at `at`: its last beat still times interrupted calls, but
        it no longer counts as a live broker."""

    async def rate(self, session_id: str, score: int) -> bool:
        """The customer's rating (1-5) of a closed session, kept with its record; False if
        the session has no record or was rated already (the first rating stays)."""

    async def is_closed(self, session_id: str) -> bool: ...

    async def rollup(self, first_day: str, end_day: str,
                     teams: frozenset[str] | None = None) -> RollupColumns:
        """The roll-up rows of the local days [first_day, end_day) (ISO dates)."""

    async def purge_contacts(self, ended_before: float) -> int:
        """Delete the records that ended before this time (their roll-up stays); returns
        how many."""

    async def contact(self, session_id: str) -> dict[str, Any] | None: ...

    # ------------------------------------------------------------ counsellors' skills

    async def skills(self, staff_id: str) -> Skills | None:
        """What an admin set for this counsellor (None: nothing yet, the defaults apply)."""

    async def set_skills(self, staff_id: str, skills: Skills, at: float) -> None: ...

    async def all_skills(self) -> dict[str, Skills]: ...

    async def contacts(
        self, since: float, until: float, teams: frozenset[str] | None = None,
        counsellor: str | None = None,
    ) -> list[dict[str, Any]]: ...

    # ------------------------------------------------------------ callback requests

    async def add_callback(self, request: CallbackRequest) -> None: ...

    async def callback(self, callback_id: str) -> CallbackRequest | None: ...

    async def change_callback(self, callback_id: str,
                              step: Callable[[CallbackRequest], Change]) -> CallbackRequest:
        """Apply one step (`broker.callbacks`) to the row under its lock, and write the row
        and the attempt it records in one transaction: concurrent steps on one request are
        ordered, each sees the one before. NotFound if there is no such request; whatever
        the step raises leaves the row as it was."""

    async def unsettled_callbacks(self, teams: frozenset[str] | None = None
                                  ) -> list[CallbackRequest]:
        """Open and claimed requests (of these teams), earliest deadline first."""

    async def callback_of_session(self, session_id: str) -> CallbackRequest | None: ...

    async def callbacks_closed(self, since: float, until: float,
                               teams: frozenset[str] | None = None) -> list[CallbackRequest]:
        """Requests settled in [since, until), for reports."""

    async def callback_attempts(self, callback_id: str) -> list[Attempt]: ...

    async def purge_callbacks(self, closed_before: float) -> int:
        """Delete settled requests (and their attempts) closed before this time, and the
        drop-in waits that ended before it."""

    # ------------------------------------------------------------ drop-in waits

    async def add_wait(self, wait: Wait) -> None:
        """A drop-in wait ended (answered or left): kept for reports, without who."""

    async def waits(self, since: float, until: float,
                    teams: frozenset[str] | None = None) -> list[Wait]:
        """The waits that ended in [since, until)."""

    # ------------------------------------------------------------ webhook outbox

    async def claim_outbox(self, node: str, now: float, lease_seconds: float,
                           limit: int = 50) -> list[OutboxRow]:
        """Lease up to `limit` due rows to `node` until `now + lease_seconds` and count an
        attempt on each: rows another process holds are skipped, and a session's later
        events wait until its earlier ones are settled (per URL)."""

    async def outbox_delivered(self, row_id: int, now: float) -> None: ...

    async def outbox_failed(self, row_id: int, now: float, retry_at: float | None,
                            error: str) -> None:
        """An attempt failed: due again at `retry_at` (and the rows queued behind it in
        its session and URL not before then), or given up (None)."""

    async def release_outbox_leases(self) -> int:
        """End every lease (a process alone on the log, at its start: they were its dead
        predecessor's); returns how many there were."""

    async def outbox_next_due(self) -> float | None:
        """When the next claimable row falls due (its retry time or its lease's end)."""

    async def purge_outbox(self, settled_before: float) -> int:
        """Delete rows delivered or given up before this time; returns how many."""

    async def outbox_rows(self, session_id: str | None = None) -> list[OutboxRow]:
        """Every row (of one session), oldest first: for tests and operators."""

    async def outbox_summary(self) -> dict[str, tuple[int, float]]:
        """Status -> (rows, when the oldest of them happened): for the metrics."""
