"""Every channel against the one protocol (``bot.channel.Channel``): each is a single object
with the whole of it, and its render is pure — every event type rendered with no database and
no I/O (a socket opened, a session made, or a coroutine returned would fail here)."""

from __future__ import annotations

import inspect
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import fields
from typing import Any, Generic, Protocol

import pytest
from aiogram import Bot
from engine_fixtures import case_card
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel import Channel, Draft
from bot.clock import SystemClock
from bot.engine import Event, Incoming
from bot.payloads import Payload, Press
from bot.replies import Button, Reply
from handlers.bitrix24.replies import BitrixCalls
from handlers.bitrix24.rest.api import Bitrix24Api
from handlers.bitrix24.sender import BitrixSender
from handlers.telegram.delivery import Deliverer
from handlers.telegram.sender import TelegramSender
from handlers.telegram.settings import TelegramSettings
from handlers.terminal.channel import TerminalChannel

CONVERSATIONS = {"telegram": "42", "bitrix24": "chat7", "terminal": "42"}


class _NoPortal:
    """A Bitrix24 client that must not be called: rendering makes no call."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the portal was called: {name}")


def _no_session() -> Any:
    raise AssertionError("a database session was opened")


def _telegram() -> TelegramSender:
    settings = TelegramSettings(bot_token="123:secret")
    no_database: async_sessionmaker[AsyncSession] = _no_session  # type: ignore[assignment]
    deliverer = Deliverer(
        no_database,
        SystemClock(),
        None,
        operator_chat_id=-1001,
        operator_language="ru",
        wake=lambda: None,
    )
    return TelegramSender(Bot("123:secret"), settings, topics=None, deliverer=deliverer)


def _bitrix24() -> BitrixSender:
    portal: Bitrix24Api = _NoPortal()  # type: ignore[assignment]
    return BitrixSender(portal, SystemClock(), bot_code="helpbot", calls=BitrixCalls("ru"))


CHANNELS: dict[str, Callable[[], Any]] = {
    "telegram": _telegram,
    "bitrix24": _bitrix24,
    "terminal": TerminalChannel,
}


def _event_types(base: type[Event] = Event) -> Iterator[type[Event]]:
    for kind in base.__subclasses__():
        yield kind
        yield from _event_types(kind)


def _value(name: str, kind: object, channel: str) -> object:
    """A plausible value of an event's field, by its name (and annotation as a fallback)."""
    ticket = 3
    buttons = (
        Button("Помогло", Payload(Press.HELPED, 5).encode()),
        Button("Отменить", Payload(Press.CANCEL, ticket).encode()),
    )
    by_name: dict[str, object] = {
        "channel": channel,
        "conversation_id": CONVERSATIONS[channel],
        "reply": Reply(("Ответ",), title="Вопрос", buttons=buttons),
        "ticket_id": ticket,
        "message_id": 11,
        "notice": "Обращение №3",
        "card": case_card(ticket, channel, "Не работает телефония"),
        "text": "ещё вопрос",
        "operator": "anna",
        "rating": 5,
        "cancelled": False,
        "first_reply": True,
    }
    if name in by_name:
        return by_name[name]
    raise AssertionError(f"no sample value for the field {name!r} ({kind}): add one here")


def _events(channel: str) -> list[Event]:
    made = []
    for kind in _event_types():
        values = {f.name: _value(f.name, f.type, channel) for f in fields(kind)}
        made.append(kind(**values))
    return made


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_every_event_type_has_a_sample_here() -> None:
    kinds = {kind.__name__ for kind in _event_types()}
    assert {"Say", "Resolved", "TicketOpened", "HandToQueue", "Relayed", "TicketClosed"} <= kinds
    assert not any(issubclass(kind, Incoming) for kind in _event_types())


def _declared(protocol: type) -> dict[str, object]:
    """The public members ``protocol`` and the protocols it extends declare."""
    found: dict[str, object] = {}
    for cls in reversed(protocol.__mro__):
        if cls not in (object, Protocol, Generic):
            found |= {k: v for k, v in vars(cls).items() if not k.startswith("_")}
    return found


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_each_channel_is_one_object_with_the_whole_protocol(name: str) -> None:
    """Each member the protocol declares, its methods with the same parameters, coroutines
    where the protocol's are (more than ``isinstance`` against a ``runtime_checkable`` protocol
    looks at: the members' names alone)."""
    channel = CHANNELS[name]()
    declared = _declared(Channel)
    assert {"name", "pace", "send", "unreachable", "render"} <= set(declared)
    for member, spec in declared.items():
        assert hasattr(channel, member), member
        if inspect.isfunction(spec):
            made = getattr(channel, member)
            assert inspect.iscoroutinefunction(made) == inspect.iscoroutinefunction(spec), member
            wanted = list(inspect.signature(spec).parameters)[1:]  # self aside
            assert list(inspect.signature(made).parameters) == wanted, member
    assert channel.name == name


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_each_channel_renders_every_event_type_purely(name: str) -> None:
    channel: Channel = CHANNELS[name]()
    rendered: dict[str, list[Draft]] = {}
    for event in _events(name):
        drafts = channel.render(event)
        assert isinstance(drafts, list), f"{type(event).__name__}: {drafts!r}"
        assert all(isinstance(d, Draft) and isinstance(d.chat_id, str) for d in drafts)
        for draft in drafts:
            json.dumps(draft.params)  # stored as the outbox row's JSON
        assert channel.render(event) == drafts or name == "bitrix24"  # its templateId is new
        rendered[type(event).__name__] = drafts
    assert rendered["Say"], "a reply to the person renders in every channel"
    for other in CHANNELS:
        if other not in (name, "terminal") and name != "terminal":
            foreign = _events(other)
            assert all(channel.render(e) == [] for e in foreign), "another channel's events"
