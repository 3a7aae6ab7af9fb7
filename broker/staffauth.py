"""Which staff token to believe: ours (HS256, embedded default and CLI) or the identity
provider's (OpenID Connect, keys from its JWKS), told apart by the exact `iss`.

The provider's keys are fetched from the configured URL only (never from a token), kept,
and fetched again when a token names an unknown `kid` (key rotation), at most once per
`min_refresh` seconds so that tokens with made-up `kid`s cannot make us hammer the
provider, and at least every `max_age` seconds so that a withdrawn key stops working.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import jwt

from broker.config import Settings
from broker.credentials import StaffPrincipal, TokenIssuer
from broker.oidc import KeySet, OidcConfig, verify
from broker.tokenrules import refused, unverified_issuer

log = logging.getLogger("broker.auth")
MAX_JWKS_BYTES = 256 * 1024
Fetch = Callable[[str], Awaitable[bytes]]


class JwksCache:
    def __init__(self, url: str, algorithms: frozenset[str], *, min_refresh: float = 30.0,
                 max_age: float = 600.0, clock: Callable[[], float],
                 fetch: Fetch | None = None) -> None:
        self.url = url
        self._algorithms = algorithms
        self._min_refresh = min_refresh
        self._max_age = max_age
        self._clock = clock
        self._fetch = fetch or self._http_get
        self._keys = KeySet({})
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self._http: aiohttp.ClientSession | None = None
        self.fetches = 0

    async def keys(self, kid: object) -> KeySet:
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._max_age
        unknown = kid not in self._keys
        may_refresh = self._fetched_at is None or now - self._fetched_at >= self._min_refresh
        if stale or (unknown and may_refresh):
            await self.refresh(only_if_older_than=now)
        return self._keys

    async def refresh(self, only_if_older_than: float | None = None) -> None:
        async with self._lock:  # one fetch at a time; followers use its result
            if (only_if_older_than is not None and self._fetched_at is not None
                    and self._fetched_at >= only_if_older_than):
                return
            self._fetched_at = self._clock()
            self.fetches += 1
            try:
                self._keys = KeySet.parse(await self._fetch(self.url), self._algorithms)
            except Exception as exc:  # keep the keys we had; the next refresh tries again
                log.warning("identity provider keys could not be fetched: %s",
                            type(exc).__name__)
            else:
                log.info("identity provider keys fetched: %d usable", len(self._keys))

    async def _http_get(self, url: str) -> bytes:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        async with self._http.get(url, allow_redirects=False) as resp:
            resp.raise_for_status()
            body = await resp.content.read(MAX_JWKS_BYTES + 1)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError("the key set is too large")
            return body

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


class StaffAuth:
    def __init__(self, issuer: TokenIssuer, clock: Callable[[], float],
                 oidc: OidcConfig | None = None, jwks: JwksCache | None = None) -> None:
        self._issuer = issuer
        self._clock = clock
        self._oidc = oidc
        self._jwks = jwks

    async def check(self, token: object) -> StaffPrincipal:
        if not isinstance(token, str) or not token:
            raise refused("a token is required")
        iss = unverified_issuer(token)
        if iss == self._issuer.issuer:
            return self._issuer.check_staff(token, self._clock())
        if self._oidc is None or self._jwks is None or iss != self._oidc.issuer:
            raise refused("the token comes from an issuer we do not trust")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise refused() from None
        keys = await self._jwks.keys(kid)
        who = verify(token, self._oidc, keys, self._clock())
        return StaffPrincipal(who.staff_id, who.roles, who.teams, who.expires_at)

    async def prefetch(self) -> None:
        """Fetch the provider's keys at start, so the first sign-in does not wait for them
        (a failure is logged; the first token will try again)."""
        if self._jwks is not None:
            await self._jwks.refresh()

    async def close(self) -> None:
        if self._jwks is not None:
            await self._jwks.close()


def staff_auth_for(settings: Settings, issuer: TokenIssuer, clock: Callable[[], float]
                   ) -> StaffAuth:
    if not settings.oidc_issuer:
        return StaffAuth(issuer, clock)
    algs = frozenset(settings.oidc_algorithms)
    config = OidcConfig(settings.oidc_issuer, settings.oidc_audience, algs,
                        settings.oidc_roles_claim, settings.oidc_teams_claim,
                        dict(settings.oidc_role_map))
    jwks = JwksCache(settings.oidc_jwks_url, algs, clock=clock,
                     min_refresh=settings.oidc_jwks_min_refresh_seconds)
    return StaffAuth(issuer, clock, config, jwks)
