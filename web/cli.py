"""The `counselling-broker` command: serve, and the few token chores the embedded default needs."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import gc
import json
import logging
import signal
import ssl
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from broker.config import ConfigError, Settings, load_settings
from broker.contactlog.base import ContactLog
from broker.credentials import TokenIssuer
from broker.errors import BrokerError
from broker.report import parse_group_by, parse_period, retention_cutoff
from broker.routing import Skills
from broker.types import Role, StaffId, TeamId
from web import reports, retention
from web.app import contact_log_for, create_app, signing_secret
from web.auth import TEAM
from web.dropin import STAFF_ID, parse_skills

DEMO_TEAM = TeamId("demo-team")
DEMO_ACCOUNTS = (
    (StaffId("demo-counsellor"), Role.COUNSELLOR, "staff"),
    (StaffId("demo-supervisor"), Role.SUPERVISOR, "supervisor"),
)


def staff_link(settings: Settings, staff: StaffId, role: Role, teams: frozenset[TeamId],
               hours: float) -> str:
    secret, _ = signing_secret(settings)
    issuer = TokenIssuer(secret, settings.issuer)
    token = issuer.staff_token(staff, frozenset({role}), teams, time.time(), hours * 3600)
    page = "supervisor" if role is Role.SUPERVISOR else "staff"
    return f"{settings.base_url}/{page}#token={token}"


def print_demo_links(settings: Settings) -> None:
    print("Demo accounts (team demo-team), sign-in links valid for "
          f"{settings.staff_token_hours:g} h:")
    for staff, role, _ in DEMO_ACCOUNTS:
        link = staff_link(settings, staff, role, frozenset({DEMO_TEAM}),
                          settings.staff_token_hours)
        print(f"  {role:<11} {link}")
    print("Print them again with: counselling-broker demo-links", flush=True)


async def serve(settings: Settings, ssl_context: ssl.SSLContext | None) -> None:
    _, first_start = signing_secret(settings)
    app = create_app(settings)
    # a stop closes every socket first (on_shutdown); a client that does not hang up within
    # a second is cut off rather than holding the restart up
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context)
    await site.start()
    if first_start:
        print_demo_links(settings)
    print(f"counselling-broker listening on {settings.base_url}", flush=True)
    # the cyclic collector makes the latency tail; nothing long-lived is collectable
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    # `kill -USR1 <pid>` writes every thread's stack to stderr: for a process that hangs
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def contact_log_of(settings: Settings) -> ContactLog:
    """The contact log the broker is configured with (PostgreSQL or the SQLite file)."""
    path = settings.data_dir / "contacts.sqlite3"
    if not settings.database_url and not path.is_file():  # a report must not create one
        raise ConfigError(f"no contact log at {path} (set --data-dir, CB_DATA_DIR or "
                          "DATABASE_URL)")
    return contact_log_for(settings)


async def print_report(settings: Settings, args: argparse.Namespace) -> None:
    """The same report as `GET /api/reports`, for every team or `--team`, to stdout."""
    tz = ZoneInfo(settings.report_timezone)
    since, until = parse_period(args.since, args.until, tz)
    group_by = parse_group_by(args.group_by)
    hours = reports.opening_hours_of(settings.opening_hours)
    if args.team is not None and not TEAM.fullmatch(args.team):
        raise ConfigError(f"--team {args.team!r} is not a team id")
    contacts = contact_log_of(settings)
    await contacts.open()
    try:
        report = await reports.report_of(
            contacts, since=since, until=until, timezone=settings.report_timezone,
            group_by=group_by, hours=hours,
            teams=None if args.team is None else frozenset({args.team}),
            kept_since=retention_cutoff(time.time(), settings.retention_days, tz),
            target_seconds=settings.dropin_target_seconds)
    finally:
        await contacts.close()
    if args.format == "json":
        sys.stdout.write(reports.dumps(report) + "\n")
    else:
        sys.stdout.write(reports.render_csv(report, args.format))
    sys.stdout.flush()


async def purge(settings: Settings) -> int:
    """One retention round by hand (a running broker does one every hour)."""
    contacts = contact_log_of(settings)
    await contacts.open()
    try:
        return await retention.purge_once(contacts, settings, time.time())
    finally:
        await contacts.close()


async def skills(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """Show, or with --topics and --languages set, a counsellor's drop-in skills (a running
    broker uses them from the counsellor's next sign-in; the REST API at once)."""
    if not STAFF_ID.fullmatch(args.staff):
        raise ConfigError(f"--staff {args.staff!r} is not a staff id")
    contacts = contact_log_of(settings)
    await contacts.open()
    try:
        if args.topics is not None or args.languages is not None:
            def listed(text: str | None) -> list[str]:
                return [x.strip() for x in (text or "").split(",") if x.strip()]

            parsed = parse_skills({"teams": listed(args.teams), "topics": listed(args.topics),
                                   "languages": listed(args.languages)})
            await contacts.set_skills(args.staff, parsed, time.time())
        found = await contacts.skills(args.staff)
    finally:
        await contacts.close()
    return {"staff": args.staff, "set": found is not None, **(found or Skills()).to_dict()}


def _runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="counselling-broker")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the broker")
    p_serve.add_argument("--host")
    p_serve.add_argument("--port", type=int)
    p_serve.add_argument("--data-dir")
    p_serve.add_argument("--tls-cert", help="PEM certificate (browsers need HTTPS off localhost)")
    p_serve.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p_token = sub.add_parser("token", help="print a staff sign-in link")
    p_token.add_argument("--staff", required=True)
    p_token.add_argument("--role", required=True, choices=[r.value for r in Role
                                                           if r is not Role.CUSTOMER])
    p_token.add_argument("--team", action="append", required=True)
    p_token.add_argument("--hours", type=float, default=12.0)
    sub.add_parser("demo-links", help="print the demo accounts' sign-in links")
    p_report = sub.add_parser("report", help="print a contact report (as GET /api/reports)")
    p_report.add_argument("--from", dest="since", required=True,
                          help="date (local midnight), ISO 8601 or Unix seconds")
    p_report.add_argument("--to", dest="until", required=True, help="the same, exclusive")
    p_report.add_argument("--group-by", default="",
                          help="comma list of day, week, month, team, counsellor, channel, kind")
    p_report.add_argument("--team", help="one team only (default: every team)")
    p_report.add_argument("--format", default="json", choices=list(reports.FORMATS))
    p_report.add_argument("--data-dir")
    p_skills = sub.add_parser("skills", help="show or set a counsellor's drop-in skills")
    p_skills.add_argument("--staff", required=True)
    p_skills.add_argument("--topics", help="comma list, e.g. benefits,placement")
    p_skills.add_argument("--languages", help="comma list of two-letter codes, e.g. de,tr")
    p_skills.add_argument("--teams", help="comma list (default: every team of the sign-in)")
    p_skills.add_argument("--data-dir")
    p_purge = sub.add_parser("purge", help="delete contact records past CB_RETENTION_DAYS "
                             "(their daily totals stay)")
    p_purge.add_argument("--data-dir")
    args = parser.parse_args(argv)

    overrides = {k: v for k, v in (("host", getattr(args, "host", None)),
                                   ("port", getattr(args, "port", None)),
                                   ("data_dir", getattr(args, "data_dir", None))) if v}
    if "data_dir" in overrides:
        overrides["data_dir"] = Path(overrides["data_dir"])
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")

    if args.command == "token":
        print(staff_link(settings, StaffId(args.staff), Role(args.role),
                         frozenset(TeamId(t) for t in args.team), args.hours))
        return 0
    if args.command == "demo-links":
        print_demo_links(settings)
        return 0
    if args.command == "report":
        try:
            asyncio.run(print_report(settings, args))
        except (ConfigError, BrokerError) as exc:
            print(f"report: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "skills":
        try:
            shown = asyncio.run(skills(settings, args))
        except (ConfigError, BrokerError) as exc:
            print(f"skills: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(shown))
        return 0
    if args.command == "purge":
        try:
            deleted = asyncio.run(purge(settings))
        except (ConfigError, BrokerError) as exc:
            print(f"purge: {exc}", file=sys.stderr)
            return 2
        print(f"{deleted} contact records deleted (older than {settings.retention_days} days)")
        return 0
    ssl_context = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            print("--tls-cert and --tls-key go together", file=sys.stderr)
            return 2
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    with _runner() as runner:
        runner.run(serve(settings, ssl_context))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
