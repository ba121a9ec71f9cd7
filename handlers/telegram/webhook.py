"""The webhook route: the secret header is checked (constant time) before the body is read, the
update is stored, and only then Telegram gets its 200."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from handlers.telegram.inbox import Inbox

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_webhook_handler(inbox: Inbox, secret: str) -> Handler:
    expected = secret.encode("utf-8")

    async def on_update(request: web.Request) -> web.StreamResponse:
        # Non-ASCII header bytes arrive surrogate-escaped: compare them as the bytes they were.
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not secrets.compare_digest(given, expected):
            log.warning("webhook call with a wrong secret refused remote=%s", request.remote)
            return web.Response(status=401, text="Unauthorized")
        try:
            raw = await request.json()
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return web.Response(status=400, text="Bad Request: not JSON")
        if not isinstance(raw, dict) or not _update_id_ok(raw.get("update_id")):
            return web.Response(status=400, text="Bad Request: not an update")
        await inbox.store([raw])
        return web.json_response({})

    return on_update


def _update_id_ok(value: object) -> bool:
    """Telegram's update ids are non-negative 64-bit integers (JSON ``true`` is not one)."""
    return type(value) is int and 0 <= value < 2**63
