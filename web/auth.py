"""Who is calling a REST endpoint: the bearer token, and the staff principal behind it.

Its own module so that the endpoint modules (`api`, `reports`) share it without importing
each other.
"""

from __future__ import annotations

import re

from aiohttp import web

from broker.credentials import StaffPrincipal
from broker.errors import AccessDenied, ErrorCode
from broker.types import Role
from web.keys import STAFF_AUTH

TEAM = re.compile(r"[A-Za-z0-9._-]{1,64}")


def bearer(request: web.Request, what: str) -> str:
    """The token of `Authorization: Bearer <token>`; `what` names it in the refusal."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AccessDenied(ErrorCode.UNAUTHENTICATED, f"{what} is required")
    return token.strip()


async def staff(request: web.Request, *roles: Role) -> StaffPrincipal:
    """The caller's staff principal, holding at least one of `roles`."""
    who = await request.app[STAFF_AUTH].check(bearer(request, "a staff token"))
    if not any(who.has(role) for role in roles):
        raise AccessDenied(ErrorCode.FORBIDDEN, f"this needs the role {' or '.join(roles)}")
    return who
