"""Typed keys: the resources every view may use, and what middleware leaves on a request."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from service.api.auth import Principal
from service.commands.runner import Commands
from service.settings import Settings
from service.workers import LagWatch

POOL = web.AppKey("pool", asyncpg.Pool)
SETTINGS = web.AppKey("settings", Settings)
PRINCIPAL = web.RequestKey("principal", Principal)
REQUEST_ID = web.RequestKey("request_id", str)
LAG = web.AppKey("catchup_lag", LagWatch)
COMMANDS = web.AppKey("commands", Commands)
