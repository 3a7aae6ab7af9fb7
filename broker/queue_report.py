"""How a period's drop-ins and callback requests went, per team: the service level and
abandonment of the queue, and callbacks done within their deadline. Pure.

Definitions (docs/protocol.md 5.2):
- drop-ins: waits that ended in the period, `answered` by a counsellor or `abandoned`
  (the customer left, or their page stayed away); **service_level** = answered within the
  target wait / answered; **abandonment_rate** = abandoned / all ended waits;
  **wait_seconds** of the answered: mean, and p90 by nearest rank, at 0.1 s.
- callbacks: requests settled in the period, `done` (a counsellor reached the customer),
  `unreached` (a wrong number, or too many failed attempts) or `cancelled` (withdrawn by the
  customer); **in_time_rate** = done by the deadline / done.
Rates are given to 4 decimals, halves up, computed from exact integers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from broker.callbacks import CallbackRequest, CallbackState


@dataclass(frozen=True, slots=True)
class Wait:
    """One drop-in customer's wait, as reports need it: no ticket, no name."""

    team: str
    topic: str
    language: str
    joined_at: float
    ended_at: float
    answered: bool


def _rate(part: int, whole: int) -> float | None:
    if whole == 0:
        return None
    return ((20_000 * part + whole) // (2 * whole)) / 10_000


def _tenths(seconds: float) -> int:
    return math.floor(max(0.0, seconds) * 10 + 0.5)


def _team() -> dict[str, Any]:
    return {
        "dropins": {"answered": 0, "abandoned": 0, "answered_in_target": 0,
                    "service_level": None, "abandonment_rate": None,
                    "wait_seconds": {"mean": None, "p90": None}},
        "callbacks": {"done": 0, "unreached": 0, "cancelled": 0, "done_in_time": 0,
                      "in_time_rate": None},
    }


def queue_figures(waits: Iterable[Wait], settled: Iterable[CallbackRequest],
                  target_seconds: float, teams: Iterable[str] = ()) -> dict[str, Any]:
    """Per team (those given, and any with a wait or a settled request)."""
    out: dict[str, dict[str, Any]] = {t: _team() for t in teams}
    answered_waits: dict[str, list[int]] = {}
    target = _tenths(target_seconds)
    for w in waits:
        d = out.setdefault(w.team, _team())["dropins"]
        if w.answered:
            d["answered"] += 1
            tenths = _tenths(w.ended_at - w.joined_at)
            answered_waits.setdefault(w.team, []).append(tenths)
            d["answered_in_target"] += tenths <= target
        else:
            d["abandoned"] += 1
    for r in settled:
        c = out.setdefault(r.team, _team())["callbacks"]
        if r.state is CallbackState.DONE:
            c["done"] += 1
            c["done_in_time"] += r.closed_at is not None and r.closed_at <= r.deadline
        elif r.state is CallbackState.UNREACHED:
            c["unreached"] += 1
        elif r.state is CallbackState.CANCELLED:
            c["cancelled"] += 1
    for team, f in out.items():
        d, c = f["dropins"], f["callbacks"]
        d["service_level"] = _rate(d["answered_in_target"], d["answered"])
        d["abandonment_rate"] = _rate(d["abandoned"], d["answered"] + d["abandoned"])
        values = sorted(answered_waits.get(team, []))
        if values:
            mean = (2 * sum(values) + len(values)) // (2 * len(values))  # tenths, halves up
            d["wait_seconds"] = {"mean": mean / 10,
                                 "p90": values[math.ceil(0.9 * len(values)) - 1] / 10}
        c["in_time_rate"] = _rate(c["done_in_time"], c["done"])
    return dict(sorted(out.items()))
