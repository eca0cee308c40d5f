"""Typed application keys: the resources every view may use."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from service.settings import Settings

POOL = web.AppKey("pool", asyncpg.Pool)
SETTINGS = web.AppKey("settings", Settings)
