"""The outbox's JSON Bot API calls say what aiogram's forms said and read answers as aiogram does.

Each call's JSON body is compared with aiogram's multipart form for the same call, both read the
way telegram-bot-api reads them (tdlib td/net/HttpReader.cpp: a string is itself, any other JSON
value its text); each answer is handed to aiogram's ``check_response`` and to ``BotApi``, and
the exception (class, message, retry_after, migrate_to_chat_id) or the result must agree.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import ClientDecodeError, TelegramAPIError

from handlers.telegram.botapi import BotApi, _body
from handlers.telegram.sender import METHODS, _message_id

CALLS: list[tuple[str, dict[str, Any]]] = [
    (
        "sendMessage",
        {
            "chat_id": 42,
            "text": "<b>Сброс пароля</b>\nОткройте страницу входа",
            "parse_mode": "HTML",
            "reply_markup": {
                "inline_keyboard": [[{"text": "Да", "callback_data": "p:1:2", "style": "primary"}]]
            },
        },
    ),
    ("sendMessage", {"chat_id": -1001, "text": "notice", "message_thread_id": 7}),
    (
        "sendMessage",
        {
            "chat_id": -1001,
            "text": "only you",
            "message_thread_id": 7,
            "ephemeral_message_parameters": {"receiver_user_id": 5},
        },
    ),
    ("sendMessage", {"chat_id": 42, "text": "plain", "parse_mode": None, "caption": ""}),
    (
        "copyMessage",
        {"chat_id": -1001, "from_chat_id": 42, "message_id": 9, "message_thread_id": 3},
    ),
    (
        "editMessageText",
        {
            "chat_id": -1001,
            "message_id": 3,
            "text": "card",
            "reply_markup": {"inline_keyboard": []},
        },
    ),
    ("editMessageReplyMarkup", {"chat_id": 42, "message_id": 3}),
    ("closeForumTopic", {"chat_id": -1001, "message_thread_id": 7}),
    (
        "setMessageReaction",
        {"chat_id": 42, "message_id": 3, "reaction": [{"type": "emoji", "emoji": "👍"}]},
    ),
]


@pytest.fixture
async def bot() -> Any:
    default = DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True)
    bot = Bot("123:secret", session=AiohttpSession(), default=default)
    yield bot
    await bot.session.close()


def _as_server_reads(value: Any) -> Any:
    """A parameter as telegram-bot-api holds it: text, nested values parsed for comparison."""
    if isinstance(value, str):
        try:
            return json.loads(value) if value[:1] in "[{" else value
        except ValueError:
            return value
    return json.loads(json.dumps(value))


@pytest.mark.parametrize(("method", "params"), CALLS)
async def test_json_body_carries_what_aiogram_form_carried(
    bot: Bot, method: str, params: dict[str, Any]
) -> None:
    api = BotApi(bot, METHODS)
    model = METHODS[method].model_validate(params)
    form = bot.session.build_form_data(bot, model)  # type: ignore[attr-defined]
    sent_by_aiogram = {field[0]["name"]: field[2] for field in form._fields}
    body = json.loads(json.dumps(_body(api._defaults[method], params)))

    def read(fields: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in fields.items():
            text = v if isinstance(v, str) else json.dumps(v)
            out[k] = _as_server_reads(text)
        return out

    assert read(body) == read(sent_by_aiogram)
    assert "chat_id" in body


ANSWERS: list[tuple[int, Any]] = [
    (
        200,
        {
            "ok": True,
            "result": {"message_id": 17, "date": 1, "chat": {"id": 42, "type": "private"}},
        },
    ),
    (200, {"ok": True, "result": True}),
    (200, {"ok": True, "result": {"message_id": 18, "kind": "from a newer Bot API"}}),
    (200, {"result": {"message_id": 19}}),
    (400, {"ok": False, "error_code": 400, "description": "Bad Request: message is not modified"}),
    (
        400,
        {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": -1009},
        },
    ),
    (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    ),
    (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}),
    (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    ),
    (404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}),
    (409, {"ok": False, "error_code": 409, "description": "Conflict: terminated by other"}),
    (413, {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}),
    (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}),
    (502, {"ok": False, "error_code": 502, "description": "Bad Gateway: restart"}),
    (200, {"ok": False, "error_code": 200, "description": "odd"}),
    (418, {"ok": False, "error_code": 418, "description": "I'm a teapot"}),
    (502, "<html><body>502 Bad Gateway</body></html>"),
    (200, '{"ok": tr'),
    (502, b"<html>\xff\xfe not UTF-8</html>"),
]


def _outcome(call: Any) -> tuple[Any, ...]:
    try:
        result = call()
    except TelegramAPIError as exc:
        return (
            type(exc),
            exc.message,
            getattr(exc, "retry_after", None),
            getattr(exc, "migrate_to_chat_id", None),
        )
    except ClientDecodeError as exc:
        if isinstance(exc.data, dict) and exc.data.get("ok") is True:
            # a success aiogram cannot read (a result of a newer shape): the outbox takes it as
            # done, with the message id found in the raw result (outbox._undecoded)
            return ("result", _message_id(exc.data.get("result")))
        return (ClientDecodeError, exc.message, exc.data)
    return ("result", _message_id(result))


@pytest.mark.parametrize(("status", "answer"), ANSWERS)
async def test_answers_raise_what_aiogram_raises(bot: Bot, status: int, answer: Any) -> None:
    api = BotApi(bot, METHODS)
    params = {"chat_id": 42, "text": "hi"}
    if isinstance(answer, bytes):
        raw, content = answer, answer.decode("utf-8", "replace")  # as aiohttp's text() reads it
    else:
        content = answer if isinstance(answer, str) else json.dumps(answer)
        raw = content.encode()
    model = METHODS["sendMessage"].model_validate(params)

    ours = _outcome(lambda: api._result("sendMessage", params, status, raw))
    theirs = _outcome(lambda: bot.session.check_response(bot, model, status, content).result)
    assert ours == theirs
