"""Operational metrics in the Prometheus text format: what Jobcenter IT watches.

Counters and histograms count what this process did (Prometheus adds processes up with
`sum`). The live-load gauges are read from the store at each scrape, so with several
processes every one reports the same whole-cluster figures: aggregate them with `max`.
Sessions are counted when their record is written, which happens exactly once in a
cluster, so `cb_sessions_ended_total` summed over processes is the number of contacts.

Labels hold team ids, channels, end reasons and error codes: never a person, a session id
or an address.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from broker.errors import ErrorCode
from broker.record import ContactRecord
from broker.session import Session

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _LiveLoad(Collector):
    """Gauges of the snapshot the scrape handler has just read (no await in between)."""

    def __init__(self) -> None:
        self.snapshot: dict[str, Any] = {"teams": {}}

    def collect(self) -> Iterator[Metric]:
        sessions = GaugeMetricFamily("cb_sessions", "Live sessions by state",
                                     labels=["team", "state"])
        active = GaugeMetricFamily("cb_active_sessions", "Active sessions by channel",
                                   labels=["team", "channel"])
        waiting = GaugeMetricFamily("cb_waiting_customers", "Customers in a waiting room",
                                    labels=["team"])
        oldest = GaugeMetricFamily("cb_oldest_wait_seconds",
                                   "The longest current wait (0: nobody waits)",
                                   labels=["team"])
        staff = GaugeMetricFamily("cb_counsellors", "Counsellors online, busy and free",
                                  labels=["team", "status"])
        queued = GaugeMetricFamily("cb_dropin_waiting", "Drop-in customers in a queue",
                                   labels=["team", "topic"])
        queued_oldest = GaugeMetricFamily("cb_dropin_oldest_wait_seconds",
                                          "The longest current drop-in wait (0: nobody)",
                                          labels=["team", "topic"])
        presence = GaugeMetricFamily("cb_dropin_counsellors",
                                     "Counsellors taking part in drop-ins, by presence",
                                     labels=["team", "presence"])
        for team, t in sorted(self.snapshot["teams"].items()):
            for state, n in t["sessions"].items():
                sessions.add_metric([team, state], n)
            for channel, n in t["channels"].items():
                active.add_metric([team, channel], n)
            waiting.add_metric([team], t["waiting"])
            oldest.add_metric([team], t["oldest_wait_seconds"] or 0.0)
            for status, n in t["counsellors"].items():
                staff.add_metric([team, status], n)
            dropin = t.get("dropin")
            if dropin is not None:
                for topic, q in dropin["topics"].items():
                    queued.add_metric([team, topic], q["waiting"])
                    queued_oldest.add_metric([team, topic], q["oldest_wait_seconds"] or 0.0)
                for state, n in dropin["presence"].items():
                    presence.add_metric([team, state], n)
        yield from (sessions, active, waiting, oldest, staff, queued, queued_oldest, presence)


class _Outbox(Collector):
    """The webhook outbox as the scrape handler just read it (the shared database)."""

    def __init__(self) -> None:
        self.summary: dict[str, tuple[int, float]] = {}
        self.now = 0.0

    def collect(self) -> Iterator[Metric]:
        rows = GaugeMetricFamily("cb_webhook_outbox", "Webhook events by delivery status",
                                 labels=["status"])
        for status in ("pending", "delivered", "gave_up"):
            rows.add_metric([status], self.summary.get(status, (0, 0.0))[0])
        oldest = GaugeMetricFamily("cb_webhook_oldest_pending_seconds",
                                   "Age of the oldest undelivered event (0: none)")
        pending = self.summary.get("pending")
        oldest.add_metric([], 0.0 if pending is None else max(0.0, self.now - pending[1]))
        yield from (rows, oldest)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.started = Counter("cb_sessions_started", "Sessions admitted (calls begun)",
                               ["team", "channel"], registry=r)
        self.ended = Counter("cb_sessions_ended", "Contact records written",
                             ["team", "channel", "reason"], registry=r)
        self.talk = Counter("cb_talk_seconds", "Time spent in calls, by channel",
                            ["team", "channel"], registry=r)
        self.setup = Histogram("cb_setup_seconds", "Admitted to media connected",
                               buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60), registry=r)
        self.waiting = Histogram("cb_waiting_seconds", "Joined the waiting room to admitted",
                                 buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
                                 registry=r)
        self.errors = Counter("cb_errors", "Requests and events refused, by error code",
                              ["code", "via"], registry=r)
        self.dropins = Counter("cb_dropins_finished", "Drop-in waits that ended, by how: "
                               "answered, or abandoned (the customer left)",
                               ["team", "outcome"], registry=r)
        self.dropin_wait = Histogram("cb_dropin_wait_seconds",
                                     "Joined a drop-in queue to answered by a counsellor",
                                     buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
                                     registry=r)
        self._load = _LiveLoad()
        r.register(self._load)
        self._outbox = _Outbox()
        r.register(self._outbox)

    def session_started(self, s: Session) -> None:
        self.started.labels(s.team, str(s.channel)).inc()

    def session_closed(self, record: ContactRecord, written: bool) -> None:
        if not written:  # another process (or an earlier run) wrote it: counted there
            return
        channel = str(record.segments[-1][0]) if record.segments else "none"
        self.ended.labels(record.team, channel, str(record.end_reason)).inc()
        for name, seconds in record.seconds.items():
            if seconds > 0:
                self.talk.labels(record.team, name).inc(seconds)
        if record.setup_seconds is not None:
            self.setup.observe(record.setup_seconds)
        if record.waiting_seconds is not None:
            self.waiting.observe(record.waiting_seconds)

    def dropin_finished(self, team: str, answered: bool, waited: float) -> None:
        self.dropins.labels(team, "answered" if answered else "abandoned").inc()
        if answered:
            self.dropin_wait.observe(waited)

    def refused(self, code: ErrorCode | str, via: str) -> None:
        self.errors.labels(str(code), via).inc()

    def render(self, load: dict[str, Any], outbox: dict[str, tuple[int, float]],
               now: float) -> bytes:
        self._load.snapshot = load
        self._outbox.summary, self._outbox.now = outbox, now
        return generate_latest(self.registry)
