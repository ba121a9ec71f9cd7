"""The outbox's Bot API calls as plain JSON POSTs, their answers checked lightly.

aiogram makes every call from a pydantic model: it validates the parameters, dumps them into a
multipart form field by field, and validates the whole answer (a ``Message``, say) back into
models. The outbox's calls are stored as JSON-ready parameters and need one field of the answer
(``message_id``), so here the parameters go as one ``application/json`` body through the bot's
own aiohttp session, and the answer's envelope alone is read: ``ok``, ``description`` and
``parameters`` (``retry_after``, ``migrate_to_chat_id``). telegram-bot-api reads such a body
as it reads a form (tdlib, td/net/HttpReader.cpp, ``parse_json_parameters``: a string value is
the string, any other value its JSON text).

The request carries what aiogram's form would: the bot's defaults (``parse_mode``, the link
preview) for the fields the call leaves out, no ``None`` anywhere and no empty top-level
string. An answer raises the exception aiogram's ``BaseSession.check_response`` raises for it
(the same status codes, the same classes), so the outbox maps every outcome as before.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    ClientDecodeError,
    RestartingTelegram,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.types import TelegramObject
from aiohttp import ClientError, ClientTimeout

JSON = "application/json"

# What aiogram raises for an error answer's HTTP status (BaseSession.check_response).
_BY_STATUS: dict[int, type[TelegramAPIError]] = {
    HTTPStatus.BAD_REQUEST: TelegramBadRequest,
    HTTPStatus.NOT_FOUND: TelegramNotFound,
    HTTPStatus.CONFLICT: TelegramConflictError,
    HTTPStatus.UNAUTHORIZED: TelegramUnauthorizedError,
    HTTPStatus.FORBIDDEN: TelegramForbiddenError,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: TelegramEntityTooLarge,
}


class BotApi:
    """Makes the calls of ``methods`` (Bot API name → aiogram's model of it) for ``bot``."""

    def __init__(self, bot: Bot, methods: dict[str, type[TelegramMethod[Any]]]) -> None:
        if not isinstance(bot.session, AiohttpSession):
            raise TypeError("the outbox's calls go through aiogram's aiohttp session")
        self._bot, self._session = bot, bot.session
        self._methods = methods
        self._defaults = {name: _defaults(bot, model) for name, model in methods.items()}
        self._timeout = ClientTimeout(total=bot.session.timeout)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """The call's ``result``; raises as aiogram's session would for the same answer."""
        body = _body(self._defaults[method], params)
        session = await self._session.create_session()  # the bot's one aiohttp session
        url = self._session.api.api_url(token=self._bot.token, method=method)
        try:
            async with session.post(
                url,
                data=json.dumps(body, ensure_ascii=False).encode(),
                headers={"Content-Type": JSON},
                timeout=self._timeout,
            ) as response:
                status, content = response.status, await response.read()
        except TimeoutError as exc:  # asyncio.TimeoutError too (the same class from 3.11)
            raise TelegramNetworkError(
                self._model(method, params), "Request timeout error"
            ) from exc
        except ClientError as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise TelegramNetworkError(self._model(method, params), message) from exc
        return self._result(method, params, status, content)

    def _result(self, method: str, params: dict[str, Any], status: int, content: bytes) -> Any:
        try:
            data = json.loads(content)
        except ValueError as exc:
            raise ClientDecodeError(
                "Failed to decode object", exc, content.decode("utf-8", "replace")
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
            error = ValueError("not a Bot API answer (no boolean 'ok')")
            raise ClientDecodeError("Failed to deserialize object", error, data)
        if HTTPStatus.OK <= status <= HTTPStatus.IM_USED and data["ok"]:
            return data.get("result")
        description = str(data.get("description") or "")
        model = self._model(method, params)
        parameters = data.get("parameters")
        if isinstance(parameters, dict):
            if retry_after := parameters.get("retry_after"):
                raise TelegramRetryAfter(model, description, retry_after=int(retry_after))
            if migrate_to := parameters.get("migrate_to_chat_id"):
                raise TelegramMigrateToChat(model, description, migrate_to_chat_id=int(migrate_to))
        if status in _BY_STATUS:
            raise _BY_STATUS[status](model, description)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            if "restart" in description:
                raise RestartingTelegram(model, description)
            raise TelegramServerError(model, description)
        raise TelegramAPIError(model, description)

    def _model(self, method: str, params: dict[str, Any]) -> TelegramMethod[Any]:
        """The call as aiogram's model, unvalidated: what its exceptions name (errors only)."""
        return self._methods[method].model_construct(**params)


def _defaults(bot: Bot, model: type[TelegramMethod[Any]]) -> dict[str, Any]:
    """The bot's defaults for the fields of ``model`` that have one (``Default("parse_mode")``),
    as JSON values; a default the bot leaves unset is not sent, as aiogram sends none."""
    found: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if isinstance(field.default, Default):
            value = bot.default[field.default.name]
            if value is not None:
                found[name] = _plain(value)
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, TelegramObject):
        return value.model_dump(mode="json", exclude_none=True)
    return value


def _body(defaults: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body: the call's parameters over the bot's defaults, without ``None``s (aiogram
    drops them at every level) and without empty top-level strings (aiogram skips a field whose
    form value is empty)."""
    body = dict(defaults)
    for key, value in params.items():
        if value is None or value == "":
            body.pop(key, None)  # aiogram would send the default here only for a Default value
            continue
        body[key] = _strip(value)
    return body


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value if v is not None]
    return value


__all__ = ["JSON", "BotApi"]
