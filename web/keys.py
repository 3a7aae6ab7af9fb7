"""Typed application state."""

from __future__ import annotations

from aiohttp import web

from broker.config import Settings
from broker.dropin import DropInService
from broker.service import SessionService
from broker.staffauth import StaffAuth
from broker.worklist import Worklist
from signaling.context import Context

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", SessionService)
SIGNALING = web.AppKey("signaling", Context)
STAFF_AUTH = web.AppKey("staff_auth", StaffAuth)
DROPIN = web.AppKey("dropin", DropInService)
WORKLIST = web.AppKey("worklist", Worklist)
