"""Live load: counters kept up to date from each change, never by scanning sessions.

Each session contributes a few counter keys (its state, its channel); a change applies the
difference between its contribution before and after. Waiting customers sit in an
insertion-ordered dict, so the oldest wait is its first entry, in constant time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from broker.session import Session
from broker.types import Channel, SessionId, StaffId, State, TeamId

Key = tuple[TeamId, str, str]  # (team, dimension, value), e.g. (t1, "state", "active")


def contribution(s: Session | None) -> Counter[Key]:
    c: Counter[Key] = Counter()
    if s is None or s.state.terminal:
        return c
    c[(s.team, "state", str(s.state))] += 1
    if s.state is State.ACTIVE and s.channel is not None:
        c[(s.team, "channel", str(s.channel))] += 1
    return c


@dataclass
class TeamLoad:
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    waiting: dict[SessionId, float] = field(default_factory=dict)
    online: set[StaffId] = field(default_factory=set)
    busy: Counter[StaffId] = field(default_factory=Counter)

    def figures(self, now: float) -> dict[str, Any]:
        """The team's snapshot entry (a team nobody has used yet: all zero)."""
        oldest = next(iter(self.waiting.values()), None)
        return {
            "sessions": {str(s): self.counts[("state", str(s))]
                         for s in (State.SCHEDULED, State.WAITING, State.ACTIVE)},
            "channels": {str(c): self.counts[("channel", str(c))] for c in Channel},
            "waiting": len(self.waiting),
            "oldest_wait_seconds": None if oldest is None else round(now - oldest, 1),
            "counsellors": {
                "online": len(self.online),
                "busy": len(self.busy),
                "free": len(self.online - set(self.busy)),
            },
        }


class LiveLoad:
    """Counters per team. `version` moves on every change so pushers know when to send."""

    def __init__(self) -> None:
        self._teams: dict[TeamId, TeamLoad] = {}
        self.version = 0

    def _team(self, team: TeamId) -> TeamLoad:
        return self._teams.setdefault(team, TeamLoad())

    def session_changed(self, before: Session | None, after: Session | None) -> None:
        """`after` None: the session left the store."""
        delta = contribution(after)
        delta.subtract(contribution(before))
        some = after if after is not None else before
        if some is None:
            return
        team = self._team(some.team)
        changed = False
        for (_, dim, value), n in delta.items():
            if n:
                team.counts[(dim, value)] += n
                changed = True
        was_waiting = before is not None and before.state is State.WAITING
        is_waiting = after is not None and after.state is State.WAITING
        if is_waiting and not was_waiting:
            assert after is not None
            team.waiting[after.id] = after.last_event_at  # this wait began now
            changed = True
        elif was_waiting and not is_waiting:
            team.waiting.pop(some.id, None)
            changed = True
        was_busy = before is not None and before.state is State.ACTIVE
        is_busy = after is not None and after.state is State.ACTIVE
        if is_busy != was_busy:
            team.busy[some.counsellor] += 1 if is_busy else -1
            if team.busy[some.counsellor] <= 0:
                del team.busy[some.counsellor]
            changed = True
        if changed:
            self.version += 1

    def staff_online(self, staff: StaffId, teams: frozenset[TeamId], online: bool) -> None:
        for t in teams:
            members = self._team(t).online
            if online and staff not in members:
                members.add(staff)
            elif not online and staff in members:
                members.discard(staff)
            else:
                continue
            self.version += 1

    def snapshot(self, now: float, teams: frozenset[TeamId] | None = None) -> dict[str, Any]:
        """Per team: sessions by state and channel, waiting and oldest wait, counsellors."""
        out: dict[str, Any] = {}
        for team_id, t in sorted(self._teams.items()):
            if teams is not None and team_id not in teams:
                continue
            out[team_id] = t.figures(now)
        return {"at": now, "version": self.version, "teams": out}


def load_tokens(s: Session | None) -> str:
    """A session's contribution as the tokens a shared store keeps beside it: `h:<dim>:<value>`
    counters, `w` while the customer waits, `b` while its counsellor is busy with it."""
    if s is None or s.state.terminal:
        return ""
    out = [f"h:{dim}:{value}" for (_, dim, value) in contribution(s)]
    if s.state is State.WAITING:
        out.append("w")
    if s.state is State.ACTIVE:
        out.append("b")
    return " ".join(sorted(out))
