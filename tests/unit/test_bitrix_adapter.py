"""The Bitrix24 adapter's pure parts: events read from both wire formats, BB-code rendering."""

from __future__ import annotations

from typing import Any

import pytest

from bot.replies import Button, Reply
from handlers.bitrix24.events import ChatEvent, MalformedEvent, from_fetch, from_form, unflatten
from handlers.bitrix24.render import COMMAND, escape, render
from handlers.bitrix24.settings import BitrixSettings
from knowledge.model import Link

CHAT = {
    "id": 7,
    "dialogId": "chat7",
    "entityType": "LINES",
    "entityId": "livechat|1|1007|55",
    "entityData1": "N|NONE|0|N|N|42|1700000000|0|0|0",
}


def _data(user: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"bot": {"id": 9}, "chat": CHAT, "user": user, **extra}


def test_a_customer_message_from_fetch_mode() -> None:
    event = from_fetch(
        {
            "eventId": 1,
            "type": "ONIMBOTV2MESSAGEADD",
            "data": _data(
                {"id": 55, "name": "Ion", "connector": True, "bot": False},
                message={"id": 300, "chatId": 7, "text": "Привет"},
            ),
        }
    )
    assert event is not None
    assert (event.kind, event.key, event.chat_id, event.session_id) == (
        "message",
        "msg:300",
        7,
        "42",
    )
    assert event.from_customer and event.in_open_line and event.text == "Привет"
    assert ChatEvent.from_json(event.to_json()) == event


def test_an_operator_message_from_webhook_mode_is_not_the_customer() -> None:
    form = [
        ("event", "ONIMBOTV2MESSAGEADD"),
        ("data[bot][id]", "9"),
        *((f"data[chat][{k}]", str(v)) for k, v in CHAT.items()),
        ("data[user][id]", "3"),
        ("data[user][connector]", "0"),
        ("data[message][id]", "301"),
        ("data[message][text]", "Я оператор"),
        ("auth[application_token]", "t"),
    ]
    event = from_form(unflatten(form))
    assert event is not None and event.chat_id == 7 and not event.from_customer


def test_a_keyboard_press_carries_the_payload_and_unknown_events_are_skipped() -> None:
    press = from_fetch(
        {
            "type": "ONIMBOTV2COMMANDADD",
            "data": _data(
                {"id": 55, "connector": True},
                message={"id": 301},
                command={"command": "/helpbot", "params": "fb:ok:12"},
            ),
        }
    )
    assert press is not None and press.kind == "command" and press.payload == "fb:ok:12"
    assert from_fetch({"type": "ONIMBOTV2REACTIONCHANGE", "data": {}}) is None


@pytest.mark.parametrize(
    ("kind", "missing"),
    [
        ("ONIMBOTV2MESSAGEADD", "message"),
        ("ONIMBOTV2MESSAGEADD", "bot"),
        ("ONIMBOTV2MESSAGEADD", "chat"),
        ("ONIMBOTV2COMMANDADD", "message"),
        ("ONIMBOTV2JOINCHAT", "bot"),
    ],
)
def test_an_event_without_an_id_it_needs_is_malformed_in_both_modes(
    kind: str, missing: str
) -> None:
    # Without a message id every such event would share one dedupe key ("msg:None"); without
    # the bot's id the chat's owner (the bot) would read as an operator who took the chat.
    data = _data({"id": 55, "connector": True}, message={"id": 300, "text": "Привет"})
    data["command"] = {"command": "/helpbot", "params": "fb:ok:1"}
    del data[missing]
    with pytest.raises(MalformedEvent, match=f"without {missing} id"):
        from_fetch({"eventId": 5, "type": kind, "data": data})
    form = [("event", kind), ("ts", "1"), *_flat("data", data)]
    with pytest.raises(MalformedEvent, match=f"without {missing} id"):
        from_form(unflatten(form))


@pytest.mark.parametrize(
    ("where", "value", "says"),
    [
        (("chat", "dialogId"), "chat" + "7" * 61, "dialog id"),
        (("chat", "entityData1"), "N|NONE|0|N|N|" + "4" * 33, "session id"),
        (("user", "id"), "5" * 129, "user id"),
    ],
    ids=["dialog-id", "session-id", "user-id"],
)
def test_an_id_longer_than_its_column_is_malformed_in_both_modes(
    where: tuple[str, str], value: str, says: str
) -> None:
    # Accepted, such an event was stored and then failed three times on PostgreSQL (a value too
    # long for its VARCHAR column: bitrix_chats.dialog_id, .session_id, contacts.external_id);
    # SQLite does not check lengths. The portal's own ids are short.
    data = _data({"id": 55, "connector": True}, message={"id": 300, "text": "Привет"})
    data["chat"] = {**CHAT}
    data[where[0]] = {**data[where[0]], where[1]: value}
    with pytest.raises(MalformedEvent, match=f"{says} longer than"):
        from_fetch({"eventId": 5, "type": "ONIMBOTV2MESSAGEADD", "data": data})
    form = [("event", "ONIMBOTV2MESSAGEADD"), ("ts", "1"), *_flat("data", data)]
    with pytest.raises(MalformedEvent, match=f"{says} longer than"):
        from_form(unflatten(form))
    data[where[0]][where[1]] = value[:-1]  # one shorter fits
    assert from_fetch({"eventId": 5, "type": "ONIMBOTV2MESSAGEADD", "data": data}) is not None


def _flat(key: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _flat(f"{key}[{k}]", v)]
    return [(key, str(value))]


def test_blank_blocks_are_left_out_and_a_blank_reply_is_never_an_empty_message() -> None:
    # The portal refuses a blank message: EMPTY_MESSAGE (imbot.v2 chat-message-send.md).
    assert render(Reply((" ", "Ответ", "\n"), " "))["message"] == "Ответ"
    assert render(Reply(("   ",)))["message"] == "…"


def test_a_reply_renders_as_bb_code_with_command_buttons() -> None:
    reply = Reply(
        ("Откройте [b]Настройки[/b].",),
        title="Пароль",
        links=(Link("Статья", "https://example.com/a"),),
        buttons=(Button("Помогло", "fb:ok:1"), Button("Отменить", "cancel:3"), Button("x")),
    )
    fields = render(reply, drop=frozenset({"cancel"}))
    assert fields["message"].startswith("[b]Пароль[/b]\n\nОткройте [\u200bb]")
    assert "[url=https://example.com/a]Статья[/url]" in fields["message"]
    buttons = fields["keyboard"]["BUTTONS"]
    assert [(b["TEXT"], b["COMMAND"], b["COMMAND_PARAMS"]) for b in buttons] == [
        ("Помогло", COMMAND, "fb:ok:1")
    ]
    assert escape("[1] пункт") == "[1] пункт"


def test_the_settings_name_their_secrets_for_log_redaction() -> None:
    settings = BitrixSettings(
        webhook_url="https://p.bitrix24.ru/rest/1/hooksecret123/",  # type: ignore[arg-type]
        bot_token="bot-token-123",  # type: ignore[arg-type]
    )
    assert {"hooksecret123", "bot-token-123"} <= set(settings.secrets())
