"""Settings: a frozen dataclass with defaults, overlaid from `CB_*` environment variables.

Unknown `CB_` keys are refused (a typo must not silently fall back to a default) and every
error names the key. Secrets may come from files: `CB_SECRET_FILE=/run/secrets/cb`,
`CB_TURN_SECRET_FILE`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from broker.holidays import HolidaysError, parse_holidays
from broker.hours import OpeningHoursError, parse_opening_hours
from broker.routing import TOPICS

PREFIX = "CB_"
# secrets may come from files (container secrets) rather than the environment
SECRET_FILES = {"secret_file": "secret", "turn_secret_file": "turn_secret",
                "metrics_token_file": "metrics_token", "webhook_secret_file": "webhook_secret"}
# an identity provider signs with a private key; a shared-secret algorithm here would let
# anyone holding the public key sign (the classic algorithm confusion)
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # base of customer links; default http://host:port
    data_dir: Path = Path("data")
    secret: str = field(default="", repr=False)  # generated into data_dir when empty
    issuer: str = "counselling-broker"
    log_level: str = "INFO"
    # sessions
    grace_seconds: float = 30.0
    no_show_after_seconds: float = 900.0
    link_valid_hours_after_start: float = 4.0
    staff_token_hours: float = 12.0
    hotline_number: str = "+49 800 0000000"
    ice_servers: tuple[dict[str, Any], ...] = ()
    # staff sign-in through the Jobcenter's identity provider (OpenID Connect, JWKS-signed);
    # the built-in HS256 key stays valid for the embedded default and the CLI
    oidc_issuer: str = ""  # exact `iss`; empty: no identity provider
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    oidc_algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256", "EdDSA")
    oidc_roles_claim: str = "roles"  # a dotted path, e.g. realm_access.roles
    oidc_teams_claim: str = "teams"
    oidc_role_map: dict[str, str] = field(default_factory=dict)  # IdP role -> our role
    oidc_jwks_min_refresh_seconds: float = 30.0  # an unknown `kid` refetches at most this often
    # TURN relay: time-limited credentials (the TURN REST API scheme coturn implements)
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = field(default="", repr=False)
    # /metrics answers only with this bearer token (none: /metrics is off)
    metrics_token: str = field(default="", repr=False)
    # webhooks: these URLs hear of sessions as they happen, signed with the secret
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str = field(default="", repr=False)
    # a failed delivery is tried again after base, 2 x base, 4 x base ... at most max
    # seconds apart, and given up (logged) once the event is this old
    webhook_retry_base_seconds: float = 1.0
    webhook_retry_max_seconds: float = 600.0
    webhook_give_up_hours: float = 48.0
    webhook_timeout_seconds: float = 10.0  # one request, connect to last byte
    # reports: periods and opening hours are read in this zone; opening hours as
    # comma-separated "<days> <HH:MM>-<HH:MM>" entries, days "Mon-Fri" or "Sat"
    report_timezone: str = "Europe/Berlin"
    opening_hours: str = "Mon-Fri 08:00-18:00"
    # contact records are deleted this many days after the day they ended (their figures
    # stay in the daily roll-up); 90 is the ceiling for certified video consultation
    retention_days: int = 90
    # drop-ins (/t/<team>): the topics customers choose from (among broker.routing.TOPICS),
    # how long an offer rings, the wrap-up after a call, the service level's target wait,
    # and a conversation's usual length (for the estimated wait)
    dropin_topics: tuple[str, ...] = ("benefits", "placement", "self_employed", "general")
    dropin_offer_seconds: float = 20.0
    dropin_wrap_up_seconds: float = 60.0
    dropin_target_seconds: float = 120.0
    dropin_handle_seconds: float = 900.0
    # a customer is offered a callback instead of a wait longer than this (estimated)
    dropin_max_wait_seconds: float = 1800.0
    # when drop-ins queue (outside: a callback is offered instead); empty: the opening
    # hours (and not on holidays); "always": round the clock
    dropin_hours: str = ""
    # public holidays: a federal state's code (NW, BE, BY, ...) and/or extra closing days
    # as ISO dates, comma-separated; empty: the nationwide holidays only. With the opening
    # hours they make the working days that callback deadlines are counted in
    holidays: str = ""
    # callback requests: failed attempts before one closes as unreached; how long a claim
    # holds without a call before the request returns to the list
    callback_max_attempts: int = 3
    callback_claim_minutes: float = 30.0
    turn_ttl_seconds: float = 4 * 3600.0
    # transport limits
    allowed_origins: tuple[str, ...] = ()  # besides public_url
    trusted_proxies: tuple[str, ...] = ()  # CIDRs whose X-Forwarded-For is believed
    max_body_bytes: int = 64 * 1024
    max_connections_per_address: int = 200  # a Jobcenter's staff share one NAT address
    code_attempts_per_minute: int = 10  # per address
    code_lockout_failures: int = 20  # wrong codes from one address before a lock-out
    code_lockout_seconds: float = 900.0
    code_uses_per_window: int = 10  # redemptions of one valid code per window
    code_failures_per_minute: int = 120  # wrong codes from all addresses together
    max_packet_bytes: int = 1_048_576  # one socket.io packet; fields have far lower limits
    events_per_second: float = 30.0
    event_burst: int = 120
    ping_interval: float = 10.0
    ping_timeout: float = 10.0
    load_push_interval: float = 1.0
    heartbeat_seconds: float = 10.0  # bounds how much of an interrupted call goes unrecorded
    # several processes: a process that has not beaten in Redis for this long is dead, and
    # the others take over its connections' presence (they beat four times as often)
    node_timeout_seconds: float = 6.0
    # contact log
    sqlite_synchronous: str = "NORMAL"
    # several processes: live state in Redis, the contact log in PostgreSQL (also read from
    # the conventional REDIS_URL and DATABASE_URL); empty: memory and SQLite
    redis_url: str = field(default="", repr=False)
    database_url: str = field(default="", repr=False)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def _convert(key: str, raw: str, kind: Any) -> Any:
    origin = get_origin(kind)
    try:
        if kind is bool:
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
        if kind in (int, float, str):
            return kind(raw)
        if kind is Path:
            return Path(raw)
        if origin is dict:
            value = json.loads(raw)
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ValueError("expected a JSON object of strings")
            return value
        if origin is tuple:
            value = json.loads(raw) if raw.strip().startswith("[") else raw.split(",")
            if not isinstance(value, list):
                raise ValueError("expected a list")
            inner = get_args(kind)[0]
            if inner is str:
                return tuple(str(v).strip() for v in value if str(v).strip())
            if not all(isinstance(v, dict) for v in value):
                raise ValueError("expected a JSON list of objects")
            return tuple(value)
    except (ValueError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{PREFIX}{key.upper()}: cannot read {raw!r} ({exc})") from None
    if origin in (Union, types.UnionType):
        raise ConfigError(f"{PREFIX}{key.upper()}: unsupported type")
    raise ConfigError(f"{PREFIX}{key.upper()}: unsupported type {kind!r}")


def _trusted_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "::1", "localhost"}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    env = os.environ if environ is None else environ
    hints = get_type_hints(Settings)
    names = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    for key, raw in env.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):].lower()
        if name in SECRET_FILES:
            try:
                values[SECRET_FILES[name]] = Path(raw).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{key}: cannot read {raw}: {exc.strerror}") from None
            continue
        if name not in names:
            raise ConfigError(f"{key}: unknown setting")
        values[name] = _convert(name, raw, hints[name])
    for plain in ("REDIS_URL", "DATABASE_URL"):  # the names every platform uses
        if env.get(plain) and plain.lower() not in values:
            values[plain.lower()] = env[plain]
    values.update(overrides)
    settings = Settings(**values)
    if settings.sqlite_synchronous.upper() not in {"NORMAL", "FULL", "EXTRA"}:
        raise ConfigError(f"{PREFIX}SQLITE_SYNCHRONOUS: must be NORMAL, FULL or EXTRA")
    if settings.node_timeout_seconds <= 0:
        raise ConfigError(f"{PREFIX}NODE_TIMEOUT_SECONDS must be > 0")
    if settings.grace_seconds <= 0 or settings.events_per_second <= 0:
        raise ConfigError(f"{PREFIX}GRACE_SECONDS and {PREFIX}EVENTS_PER_SECOND must be > 0")
    if settings.oidc_issuer and not (settings.oidc_audience and settings.oidc_jwks_url):
        raise ConfigError(f"{PREFIX}OIDC_ISSUER needs {PREFIX}OIDC_AUDIENCE and "
                          f"{PREFIX}OIDC_JWKS_URL")
    if settings.oidc_issuer and settings.oidc_issuer == settings.issuer:
        raise ConfigError(f"{PREFIX}OIDC_ISSUER must differ from {PREFIX}ISSUER")
    if settings.oidc_jwks_url and not _trusted_url(settings.oidc_jwks_url):
        raise ConfigError(f"{PREFIX}OIDC_JWKS_URL must be https (http only on loopback)")
    if set(settings.oidc_algorithms) - ASYMMETRIC_ALGORITHMS:
        raise ConfigError(f"{PREFIX}OIDC_ALGORITHMS: only {sorted(ASYMMETRIC_ALGORITHMS)}")
    for url in settings.webhook_urls:
        if not _trusted_url(url):
            raise ConfigError(f"{PREFIX}WEBHOOK_URLS: {url!r} must be https (http only on "
                              "loopback)")
    if settings.webhook_urls and len(settings.webhook_secret) < 16:
        raise ConfigError(f"{PREFIX}WEBHOOK_URLS needs {PREFIX}WEBHOOK_SECRET (16+ characters)")
    if min(settings.webhook_retry_base_seconds, settings.webhook_retry_max_seconds,
           settings.webhook_give_up_hours, settings.webhook_timeout_seconds) <= 0:
        raise ConfigError(f"{PREFIX}WEBHOOK_RETRY_BASE_SECONDS, _RETRY_MAX_SECONDS, "
                          "_GIVE_UP_HOURS and _TIMEOUT_SECONDS must be > 0")
    try:
        ZoneInfo(settings.report_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{PREFIX}REPORT_TIMEZONE: unknown zone "
                          f"{settings.report_timezone!r}") from None
    unknown_topics = set(settings.dropin_topics) - set(TOPICS)
    if unknown_topics or not settings.dropin_topics:
        raise ConfigError(f"{PREFIX}DROPIN_TOPICS: one or more of {', '.join(TOPICS)}")
    if min(settings.dropin_offer_seconds, settings.dropin_target_seconds,
           settings.dropin_handle_seconds) <= 0 or settings.dropin_wrap_up_seconds < 0:
        raise ConfigError(f"{PREFIX}DROPIN_OFFER_SECONDS, _TARGET_SECONDS and "
                          "_HANDLE_SECONDS must be > 0, _WRAP_UP_SECONDS >= 0")
    if settings.dropin_hours not in ("", "always"):
        try:
            parse_opening_hours(settings.dropin_hours)
        except OpeningHoursError as err:
            raise ConfigError(f"{PREFIX}DROPIN_HOURS: {err}") from None
    if settings.dropin_max_wait_seconds <= 0:
        raise ConfigError(f"{PREFIX}DROPIN_MAX_WAIT_SECONDS must be > 0")
    try:
        parse_holidays(settings.holidays)
    except HolidaysError as err:
        raise ConfigError(f"{PREFIX}HOLIDAYS: {err}") from None
    if not 1 <= settings.callback_max_attempts <= 20 or settings.callback_claim_minutes <= 0:
        raise ConfigError(f"{PREFIX}CALLBACK_MAX_ATTEMPTS must be 1 ... 20, "
                          f"{PREFIX}CALLBACK_CLAIM_MINUTES > 0")
    if not 1 <= settings.retention_days <= 3660:
        raise ConfigError(f"{PREFIX}RETENTION_DAYS must be 1 ... 3660")
    if settings.turn_urls and len(settings.turn_secret) < 16:
        raise ConfigError(f"{PREFIX}TURN_URLS needs {PREFIX}TURN_SECRET (16+ characters)")
    return settings
