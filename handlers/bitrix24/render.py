"""A channel-neutral Reply rendered for Bitrix24: BB-code text, numbered choices and a KEYBOARD.

Every button is the bot's one hidden command (:data:`COMMAND`) with the engine's payload as its
``COMMAND_PARAMS``; a press comes back as ONIMBOTV2COMMANDADD carrying that payload. The open
line forwards no keyboard to the customer on any connector (``Connector::onMessageSend``, see
``docs/bitrix24-live-checks.md`` §2), so the same choices are also written as numbered lines
(``1. …``, never ``0``: a bare ``0`` hands the chat to the queue) and the customer types the
number; :func:`choices` gives the payloads in that order. The keyboard stays for the operators.

The text is ours or the articles': everything the portal would read as markup is disarmed with
a zero-width space — BB-code tags, ``>>`` quotes, 54-dash quote blocks, ``#BR#`` (the formatting
page of ``imbot.v2`` and ``Message::setMessage``).
"""

from __future__ import annotations

import re
from typing import Any

from bot.replies import Button, Reply
from bot.texts import phrase

COMMAND = "helpbot"
MAX_TEXT = 20_000  # imbot.v2.Chat.Message.send cuts longer text
_SHORT_ROW = 3  # up to this many short buttons share a row
_SHORT_LABEL = 20
# Our text is plain: disarm anything that would read as a BB-code tag.
_TAG = re.compile(
    r"\[(/?)(b|i|u|s|url|user|chat|send|put|call|code|img|icon|size|color|br|context|"
    r"timestamp|disk|quote|list|dialog|pch|attach|rating|\*)(?=[\]= ])",
    re.IGNORECASE,
)
_ZWSP = "\u200b"
_QUOTE_LINE = re.compile(r">>")
_BR = re.compile(r"#BR#", re.IGNORECASE)
_DASHES = re.compile(r"-{54,}")  # a run this long opens or closes a quote block


def escape(text: str) -> str:
    """Plain text that shows as written: tags, quotes and ``#BR#`` broken by zero-width spaces."""
    text = _TAG.sub(f"[{_ZWSP}\\1\\2", text)
    text = _QUOTE_LINE.sub(f">{_ZWSP}>", text)
    text = _BR.sub(lambda m: f"#{_ZWSP}{m.group()[1:]}", text)
    return _DASHES.sub(lambda m: _ZWSP.join(_chunks(m.group(), 53)), text)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def shown_buttons(reply: Reply, drop: frozenset[str] = frozenset()) -> list[Button]:
    """The buttons shown, in order: those with a payload not starting with a ``drop`` prefix."""
    return [b for b in reply.buttons if b.payload and not b.payload.startswith(tuple(drop))]


def choices(reply: Reply, drop: frozenset[str] = frozenset()) -> list[str]:
    """The payloads of the numbered choices :func:`render` writes: choice ``n`` is ``[n - 1]``."""
    return [b.payload for b in shown_buttons(reply, drop)]


def render(reply: Reply, *, drop: frozenset[str] = frozenset(), lang: str = "ru") -> dict[str, Any]:
    """The ``fields`` of ``imbot.v2.Chat.Message.send``; buttons whose payload starts with one
    of the ``drop`` prefixes are left out. The keyboard has no ``BOT_ID`` yet: the caller, who
    knows the bot, adds it."""
    parts = [f"[b]{escape(reply.title)}[/b]"] if reply.title.strip() else []
    parts.extend(escape(block) for block in reply.blocks if block.strip())
    if reply.links:
        links = (f"[url={x.url}]{escape(x.title or x.url)}[/url]" for x in reply.links)
        parts.append("\n".join(links))
    buttons = shown_buttons(reply, drop)
    if buttons:
        numbered = (f"{n}. {escape(b.label)}" for n, b in enumerate(buttons, 1))
        parts.append("\n".join((*numbered, phrase("choose_by_number", lang))))
    # The portal refuses a blank message (EMPTY_MESSAGE, b24restdocs chat-message-send.md).
    text = "\n\n".join(parts) or "…"
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    fields: dict[str, Any] = {"message": text}
    if buttons:
        fields["keyboard"] = {"BUTTONS": _keyboard(buttons)}
    return fields


def _keyboard(buttons: list[Button]) -> list[dict[str, Any]]:
    short = len(buttons) <= _SHORT_ROW and all(len(b.label) <= _SHORT_LABEL for b in buttons)
    out: list[dict[str, Any]] = []
    for index, button in enumerate(buttons):
        if index and not short:
            out.append({"TYPE": "NEWLINE"})
        out.append(
            {
                "TEXT": button.label[:100],
                "COMMAND": COMMAND,
                "COMMAND_PARAMS": button.payload,
                "DISPLAY": "LINE" if short else "BLOCK",
                "BG_COLOR_TOKEN": "primary" if index == 0 and short else "secondary",
            }
        )
    return out
