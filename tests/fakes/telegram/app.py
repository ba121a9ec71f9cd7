"""The aiohttp application: routes /bot<token>/<method> and /file/bot<token>/<path> to the world,
and runs every call through latency, the server's own limits, injected faults and flood control.

Envelopes as SRV (tdlib/telegram-bot-api) writes them: HTTP status = `error_code`
(`Query.h` JsonQueryError l. 214-229, `HttpConnection.cpp` l. 71-72), `parameters.retry_after`
and a `Retry-After` header on 429 (`Query.cpp` `set_retry_after_error`, l. 105-112).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from . import chats, commands, ephemeral, media, messages, reactions, topics, transport
from .errors import (
    HTML_BAD_GATEWAY,
    ApiError,
    not_found,
    ok_envelope,
    too_many_requests,
    unauthorized,
)
from .faults import shape_body
from .limits import (
    IN_FLIGHT_RETRY_AFTER,
    IN_FLIGHT_SLEEP,
    SENDING_METHODS,
    TRANSPORT_METHODS,
)
from .models import ApiCall
from .params import Params, read_params
from .state import Handler, World

log = logging.getLogger(__name__)

WORLD_KEY = web.AppKey("world", World)
METHODS: dict[str, tuple[str, Handler]] = {
    name.lower(): (name, handler)
    for table in (
        chats.HANDLERS,
        commands.HANDLERS,
        ephemeral.HANDLERS,
        media.HANDLERS,
        messages.HANDLERS,
        reactions.HANDLERS,
        topics.HANDLERS,
        transport.HANDLERS,
    )
    for name, handler in table.items()
}
# Never executed from a webhook reply, as on the real server.
_NOT_FROM_REPLY = {"setwebhook", "deletewebhook", "close", "logout"}


@dataclass(frozen=True)
class Answer:
    """What the server answers one call with (the raw body: it need not be JSON)."""

    status: int
    body: bytes
    headers: dict[str, str]
    content_type: str = "application/json"

    def response(self) -> web.Response:
        return web.Response(
            body=self.body,
            status=self.status,
            headers=self.headers,
            content_type=self.content_type,
        )


def _error_answer(error: ApiError) -> Answer:
    return Answer(error.code, json.dumps(error.envelope()).encode(), error.headers())


def _destination(params: Params) -> int | str | None:
    try:
        return params.chat_id() if params.has("chat_id") else None
    except ApiError:
        return None


async def execute(
    world: World, name: str, handler: Handler, params: Params, *, via_webhook_reply: bool = False
) -> Answer:
    """Run one method after its latency, the server's in-flight limit, injected faults and flood
    control; record the outcome."""
    arrived = time.monotonic()
    lowered = name.lower()
    # SRV `Client::send` counts requests in flight on api.telegram.org only, local methods aside.
    counted = not world.local_mode and lowered not in TRANSPORT_METHODS
    world.in_flight += counted
    flooded = counted and world.in_flight > world.max_in_flight  # counted on arrival
    try:
        delay = world.delays.take(name)
        if delay > 0:
            await asyncio.sleep(delay)
        return await _run(world, name, handler, params, arrived, via_webhook_reply, flooded)
    finally:
        world.in_flight -= counted


async def _run(
    world: World,
    name: str,
    handler: Handler,
    params: Params,
    arrived: float,
    via_webhook_reply: bool,
    flooded: bool,
) -> Answer:
    def record(status: int, result: Any, description: str | None, shaped: str | None) -> None:
        world.record(
            ApiCall(
                name,
                params.values,
                arrived,
                status,
                result,
                description,
                via_webhook_reply,
                shaped,
            )
        )

    destination = _destination(params)
    try:
        if flooded:
            await world.clock.sleep(IN_FLIGHT_SLEEP)  # `fail_query_flood_limit_exceeded`
            raise too_many_requests(IN_FLIGHT_RETRY_AFTER)
        fault = world.faults.take(name, destination)
        if fault is not None:
            if fault.hold > 0:
                await asyncio.sleep(fault.hold)
            if fault.html:
                record(fault.status, None, fault.description, "html")
                return Answer(fault.status, HTML_BAD_GATEWAY.encode(), {}, "text/html")
            raise ApiError(fault.status, fault.description, retry_after=fault.retry_after)
        if world.limiter is not None and name.lower() in SENDING_METHODS and destination:
            await world.limiter.admit(destination)
        result = await handler(world, params)
    except ApiError as error:
        record(error.code, None, error.description, None)
        return _error_answer(error)
    mode = world.shaper.take(name)
    record(200, result, None, mode)
    if mode is not None:
        return Answer(200, shape_body(result, mode, world.now()), {})
    return Answer(200, json.dumps(ok_envelope(result)).encode(), {})


def _refused(world: World, token: str) -> web.Response | None:
    """A token that is not the bot's, or was revoked (`fake.revoke_token()`): 401 for every call."""
    if token != world.token or world.revoked:
        return _error_answer(unauthorized()).response()
    return None


async def on_bot_request(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD_KEY]
    token, method = request.match_info["token"], request.match_info["method"]
    refused = _refused(world, token)
    if refused is not None:
        return refused
    entry = METHODS.get(method.lower())
    if entry is None:
        return _error_answer(not_found("method not found")).response()
    name, handler = entry
    try:
        params = await read_params(request)
    except ApiError as error:
        return _error_answer(error).response()
    log.debug("fake telegram <- %s %s", request.method, name)
    answer = await execute(world, name, handler, params)
    return answer.response()


async def on_file_request(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD_KEY]
    refused = _refused(world, request.match_info["token"])
    if refused is not None:
        return refused
    path = request.match_info["path"]
    for stored in world.files.values():
        if stored.path == path:
            return web.Response(body=stored.content, content_type="application/octet-stream")
    return _error_answer(not_found()).response()


async def on_unknown_path(request: web.Request) -> web.StreamResponse:
    return _error_answer(not_found()).response()


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
