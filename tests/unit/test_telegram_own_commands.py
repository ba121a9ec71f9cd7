"""The hand-off of a given-up Telegram message reads the adapter's own commands as the router
does (aiogram's filters): the exact command token, a mention only of this bot, a deep link to
an entry the engine's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiogram.types import Chat, Message, PhotoSize, Update, User

from handlers.telegram.person import _own_command, hand_over
from handlers.telegram.startlinks import EntryLinks, entry_token


class _Bot:
    async def me(self) -> User:
        return User(id=1, is_bot=True, first_name="Help", username="helpbot")


def _message(text: str) -> Message:
    return Message(
        message_id=5,
        date=datetime(2026, 1, 1, tzinfo=UTC),
        chat=Chat(id=31, type="private"),
        from_user=User(id=31, is_bot=False, first_name="Ann"),
        text=text,
    )


@pytest.mark.parametrize(
    ("text", "own"),
    [
        ("/start", True),
        ("/help", True),
        ("/help@helpbot", True),
        ("/help me please", True),
        ("/start a_unknown", True),  # an unknown link: the greeting
        ("/helpme", False),
        ("/started", False),
        ("/help@otherbot", False),
        ("/start ENTRY", False),  # a link to an entry the base has: the engine's
        ("как помочь /help", False),
    ],
)
async def test_own_commands_match_as_the_router_does(text: str, own: bool) -> None:
    links = EntryLinks(["deal-1"])
    text = text.replace("ENTRY", entry_token("deal-1"))
    assert await _own_command(_message(text), _Bot(), links) is own  # type: ignore[arg-type]


class _Queue:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def open_ticket_for(self, channel: str, chat: str) -> None:
        self.asked.append(chat)


async def test_media_alone_with_no_open_ticket_is_not_handed_over() -> None:
    """As the router's path only tells the person the bot reads text, the hand-off opens no
    ticket for a photo alone (the engine and the deliverer are never reached)."""
    photo = _message("").model_copy(
        update={
            "text": None,
            "photo": [PhotoSize(file_id="p", file_unique_id="p", width=1, height=1)],
        }
    )
    queue = _Queue()
    update = Update(update_id=9, message=photo)
    await hand_over(
        update,
        "KeyError",
        None,
        None,
        bot=_Bot(),
        links=EntryLinks([]),
        queue=queue,  # type: ignore[arg-type]
    )
    assert queue.asked == ["31"]
