"""The aiohttp application: routes /bot<token>/<method> and /file/bot<token>/<path> to the world."""

from __future__ import annotations

import json
import logging
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from . import chats, messages, transport
from .errors import ApiError, not_found, ok_envelope, unauthorized
from .limits import SENDING_METHODS
from .models import ApiCall
from .params import Params, read_params
from .state import Handler, World

log = logging.getLogger(__name__)

WORLD_KEY = web.AppKey("world", World)
METHODS: dict[str, tuple[str, Handler]] = {
    name.lower(): (name, handler)
    for table in (chats.HANDLERS, messages.HANDLERS, transport.HANDLERS)
    for name, handler in table.items()
}
# Never executed from a webhook reply, as on the real server.
_NOT_FROM_REPLY = {"setwebhook", "deletewebhook", "close", "logout"}


def _json_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


async def execute(
    world: World, name: str, handler: Handler, params: Params, *, via_webhook_reply: bool = False
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Run one method with fault injection and flood control first; record the outcome."""
    arrived = time.monotonic()
    try:
        fault = world.faults.take(name)
        if fault is not None:
            raise fault
        if world.limiter is not None and name.lower() in SENDING_METHODS and params.has("chat_id"):
            world.limiter.check(params.chat_id())
        result = await handler(world, params)
    except ApiError as error:
        world.record(
            ApiCall(
                name, params.values, arrived, error.code, None, error.description, via_webhook_reply
            )
        )
        return error.code, error.envelope(), error.headers()
    world.record(ApiCall(name, params.values, arrived, 200, result, None, via_webhook_reply))
    return 200, ok_envelope(result), {}


async def on_bot_request(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD_KEY]
    token, method = request.match_info["token"], request.match_info["method"]
    if token != world.token:
        error = unauthorized()
        return _json_response(error.code, error.envelope())
    entry = METHODS.get(method.lower())
    if entry is None:
        error = not_found("method not found")
        return _json_response(error.code, error.envelope())
    name, handler = entry
    try:
        params = await read_params(request)
    except ApiError as error:
        return _json_response(error.code, error.envelope())
    log.debug("fake telegram <- %s %s", request.method, name)
    status, body, headers = await execute(world, name, handler, params)
    return _json_response(status, body, headers)


async def on_file_request(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD_KEY]
    if request.match_info["token"] != world.token:
        error = unauthorized()
        return _json_response(error.code, error.envelope())
    path = request.match_info["path"]
    for stored in world.files.values():
        if stored.path == path:
            return web.Response(body=stored.content, content_type="application/octet-stream")
    error = not_found()
    return _json_response(error.code, error.envelope())


async def on_unknown_path(request: web.Request) -> web.StreamResponse:
    error = not_found()
    return _json_response(error.code, error.envelope())


def parse_reply_body(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of a webhook reply: JSON, x-www-form-urlencoded or multipart/form-data."""
    lowered = content_type.lower()
    if lowered.startswith("application/json"):
        loaded = json.loads(body)
        return loaded if isinstance(loaded, dict) else {}
    if lowered.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    if lowered.startswith("multipart/form-data"):
        raw = b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        message = BytesParser(policy=HTTP).parsebytes(raw)
        fields: dict[str, str] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = payload.decode("utf-8")
        return fields
    return {}


def create_app(world: World) -> web.Application:
    app = web.Application(client_max_size=50 * 1024 * 1024)
    app[WORLD_KEY] = world

    async def on_reply(content_type: str, body: bytes) -> None:
        """A 2xx webhook reply carrying `method` is executed; its result is never seen."""
        try:
            fields = parse_reply_body(content_type, body)
        except ValueError:
            return
        method = str(fields.pop("method", "")).lower()
        entry = METHODS.get(method)
        if entry is None or method.startswith("get") or method in _NOT_FROM_REPLY:
            return
        await execute(world, entry[0], entry[1], Params(fields), via_webhook_reply=True)

    world.delivery.on_reply = on_reply
    app.router.add_route("*", "/bot{token}/{method}", on_bot_request)
    app.router.add_route("*", "/file/bot{token}/{path:.+}", on_file_request)
    app.router.add_route("*", "/{tail:.*}", on_unknown_path)
    return app
