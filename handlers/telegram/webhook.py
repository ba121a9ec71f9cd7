"""The webhook route: the secret header is checked (constant time) before the body is read, the
envelope is checked (a malformed update is a 400 and one log line), the update is stored, and
only then Telegram gets its 200."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from handlers.telegram.envelope import EnvelopeError, UpdateReader
from handlers.telegram.inbox import Inbox

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_webhook_handler(inbox: Inbox, reader: UpdateReader, secret: str) -> Handler:
    expected = secret.encode("utf-8")

    async def on_update(request: web.Request) -> web.StreamResponse:
        # Non-ASCII header bytes arrive surrogate-escaped: compare them as the bytes they were.
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not secrets.compare_digest(given, expected):
            log.warning("webhook call with a wrong secret refused remote=%s", request.remote)
            return web.Response(status=401, text="Unauthorized")
        try:
            raw = await request.json()
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
            # The error's kind, never the body: it may carry anything.
            log.warning(
                "webhook body refused, not JSON remote=%s: %s", request.remote, type(exc).__name__
            )
            return web.Response(status=400, text="Bad Request: not JSON")
        try:
            update = reader.check(raw)
        except EnvelopeError as exc:
            log.warning("malformed update refused remote=%s: %s", request.remote, exc)
            return web.Response(status=400, text="Bad Request: not an update")
        await inbox.store([update])
        return web.json_response({})

    return on_update
