"""The period's queue figures from a scripted morning, worked out by hand."""

from __future__ import annotations

from broker.callbacks import CallbackRequest, CallbackState, Reach, Source
from broker.queue_report import Wait, queue_figures
from broker.types import TeamId

T = 1_790_000_000.0  # 08:00 of the scripted morning, say


def wait(joined: float, waited: float, answered: bool, team: str = "t1") -> Wait:
    return Wait(team, "benefits", "de", T + joined, T + joined + waited, answered)


def settled(state: CallbackState, closed: float, deadline: float, team: str = "t1"
            ) -> CallbackRequest:
    return CallbackRequest(
        id=f"r{closed}", team=TeamId(team), topic="benefits", language="de", urgent=False,
        reach=Reach.PHONE, contact=None, window_from=None, window_to=None, source=Source.API,
        created_at=T, deadline=T + deadline, state=state, closed_at=T + closed)


def test_a_scripted_morning() -> None:
    waits = [
        wait(0, 30, True),      # answered at once
        wait(60, 119.96, True),  # 120.0 s at 0.1 s: within the 120 s target
        wait(120, 120.06, True),  # 120.1 s: not within
        wait(300, 400, True),
        wait(400, 50, False),   # left
        wait(500, 5, False),    # page went away
        wait(0, 10, True, team="t2"),
    ]
    requests = [
        settled(CallbackState.DONE, 100, 200),
        settled(CallbackState.DONE, 200, 200),   # at the deadline: in time
        settled(CallbackState.DONE, 300, 200),   # late
        settled(CallbackState.UNREACHED, 50, 200),
        settled(CallbackState.CANCELLED, 60, 200),
    ]
    out = queue_figures(waits, requests, 120.0, teams=["t1", "t3"])
    assert list(out) == ["t1", "t2", "t3"]
    d = out["t1"]["dropins"]
    assert (d["answered"], d["abandoned"], d["answered_in_target"]) == (4, 2, 2)
    assert d["service_level"] == 0.5
    assert d["abandonment_rate"] == 0.3333  # 2/6
    # answered waits in tenths: 300, 1200, 1201, 4000 -> mean 6701/4 = 1675.25 -> 167.5 s
    assert d["wait_seconds"] == {"mean": 167.5, "p90": 400.0}  # rank ceil(3.6) = 4th
    c = out["t1"]["callbacks"]
    assert (c["done"], c["unreached"], c["cancelled"], c["done_in_time"]) == (3, 1, 1, 2)
    assert c["in_time_rate"] == 0.6667  # 2/3, halves up
    assert out["t2"]["dropins"]["service_level"] == 1.0
    assert out["t2"]["callbacks"]["in_time_rate"] is None
    empty = out["t3"]
    assert empty["dropins"]["service_level"] is None
    assert empty["dropins"]["abandonment_rate"] is None
    assert empty["dropins"]["wait_seconds"] == {"mean": None, "p90": None}


def test_halves_go_up() -> None:
    # 1 of 8 = 0.125 -> 0.125; 1 of 16 = 0.0625 -> 0.0625; 1/3 of ... 5/8 = 0.625
    waits = [wait(i, 10, i < 1) for i in range(16)]
    d = queue_figures(waits, [], 120.0)["t1"]["dropins"]
    assert d["abandonment_rate"] == 0.9375  # 15/16 exactly
    waits = [wait(i, 10, i < 2) for i in range(3)]  # 1/3 abandoned
    assert queue_figures(waits, [], 120.0)["t1"]["dropins"]["abandonment_rate"] == 0.3333
    waits = [wait(i, 10, i < 1) for i in range(3)]  # 2/3
    assert queue_figures(waits, [], 120.0)["t1"]["dropins"]["abandonment_rate"] == 0.6667
    two = [wait(0, 0.05, True), wait(1, 0.1, True)]  # 0.05 s rounds up to 0.1
    assert queue_figures(two, [], 0.1)["t1"]["dropins"]["answered_in_target"] == 2
