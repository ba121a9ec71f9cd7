"""A channel-neutral Reply rendered for Bitrix24: BB-code text and a KEYBOARD of command buttons.

Every button is the bot's one hidden command (:data:`COMMAND`) with the engine's payload as its
``COMMAND_PARAMS``; a press comes back as ONIMBOTV2COMMANDADD carrying that payload.
"""

from __future__ import annotations

import re
from typing import Any

from bot.replies import Button, Reply

COMMAND = "helpbot"
MAX_TEXT = 20_000  # imbot.v2.Chat.Message.send cuts longer text
_SHORT_ROW = 3  # up to this many short buttons share a row
_SHORT_LABEL = 20
# Our text is plain: disarm anything that would read as a BB-code tag.
_TAG = re.compile(
    r"\[(/?)(b|i|u|s|url|user|chat|send|put|call|code|img|icon|size|color|br|context|"
    r"timestamp|disk|quote|list|\*)(?=[\]= ])",
    re.IGNORECASE,
)


def escape(text: str) -> str:
    """Plain text that shows as written: BB-code tags get a zero-width space after ``[``."""
    return _TAG.sub("[\u200b\\1\\2", text)


def render(reply: Reply, *, drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The ``fields`` of ``imbot.v2.Chat.Message.send``; buttons whose payload starts with one
    of the ``drop`` prefixes are left out."""
    parts = [f"[b]{escape(reply.title)}[/b]"] if reply.title else []
    parts.extend(escape(block) for block in reply.blocks if block)
    if reply.links:
        links = (f"[url={x.url}]{escape(x.title or x.url)}[/url]" for x in reply.links)
        parts.append("\n".join(links))
    text = "\n\n".join(parts)
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    buttons = [b for b in reply.buttons if b.payload and not b.payload.startswith(tuple(drop))]
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
