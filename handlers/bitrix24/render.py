"""A channel-neutral Reply rendered for Bitrix24: BB-code text, numbered choices and a KEYBOARD.

Every button is the bot's one hidden command (:data:`COMMAND`) with the engine's payload as its
``COMMAND_PARAMS``; a press comes back as ONIMBOTV2COMMANDADD carrying that payload. The open
line forwards no keyboard to the customer on any connector (``Connector::onMessageSend``, see
``docs/bitrix24-live-checks.md`` §2), so the same choices are also written as numbered lines
(``1. …``, never ``0``: a bare ``0`` hands the chat to the queue) and the customer types the
number; :func:`choices` gives the payloads in that order. The keyboard stays for the operators.

The text is ours or the articles': everything the portal would read as markup is disarmed with
a zero-width space — BB-code tags, ``>>`` quotes, 54-dash quote blocks, ``#BR#`` (the formatting
page of ``imbot.v2`` and ``Message::setMessage``). A text over the portal's 20,000 characters
(which it would cut anywhere, tags included) is shortened here: the prose at a word, titles and
link texts inside their tags, whole links and choices left out last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from bot.replies import Button, Reply
from bot.texts import phrase

COMMAND = "helpbot"
MAX_TEXT = 20_000  # imbot.v2.Chat.Message.send cuts longer text
MAX_TAGGED = 500  # characters of a title or a link's text, so a tag always fits whole
_WORD_BACK = 0.8  # a cut goes back to a space when one is this far into the text
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
    pieces = [_Piece(f"[b]{_tagged(reply.title)}[/b]")] if reply.title.strip() else []
    pieces.extend(_Piece(escape(block), prose=True) for block in reply.blocks if block.strip())
    links = [f"[url={x.url}]{_tagged(x.title or x.url)}[/url]" for x in reply.links]
    pieces.extend(_lines(links))
    buttons = shown_buttons(reply, drop)
    numbered = [f"{n}. {escape(b.label)}" for n, b in enumerate(buttons, 1)]
    pieces.extend(_lines([*numbered, phrase("choose_by_number", lang)] if buttons else []))
    # The portal refuses a blank message (EMPTY_MESSAGE, b24restdocs chat-message-send.md).
    fields: dict[str, Any] = {"message": _fit(pieces, MAX_TEXT) or "…"}
    if buttons:
        fields["keyboard"] = {"BUTTONS": _keyboard(buttons)}
    return fields


@dataclass(frozen=True, slots=True)
class _Piece:
    """A paragraph or a line of the message. Only ``prose`` (escaped text: no live tag in it) may
    be cut anywhere; any other piece is kept whole or left out, so no tag is ever cut."""

    text: str
    sep: str = "\n\n"  # what joins it to the piece before
    prose: bool = False


def _lines(lines: list[str]) -> list[_Piece]:
    return [_Piece(line, "\n" if n else "\n\n") for n, line in enumerate(lines)]


def _join(pieces: list[_Piece]) -> str:
    return "".join((p.sep if n else "") + p.text for n, p in enumerate(pieces))


def _fit(pieces: list[_Piece], limit: int) -> str:
    """The pieces joined within ``limit`` characters (``Message::MESSAGE_MAX_LENGTH``, beyond
    which the portal cuts anywhere, tags included): the last prose is shortened at a word (or
    left out when little of it would remain), then the last whole pieces are left out."""
    kept = list(pieces)
    while (over := len(_join(kept)) - limit) > 0:
        prose = [n for n, piece in enumerate(kept) if piece.prose]
        if not prose:
            del kept[-1]
            continue
        last = kept[prose[-1]]
        room = len(last.text) - over - 1
        if room * 4 >= len(last.text) or room >= MAX_TAGGED:
            kept[prose[-1]] = replace(last, text=_cut(last.text, room) + "…", prose=False)
        else:
            del kept[prose[-1]]
    return _join(kept)


def _cut(text: str, size: int) -> str:
    """At most ``size`` characters of ``text``, ending at a space when one is near the end."""
    if len(text) <= size:
        return text
    head = text[:size]
    space = max(head.rfind(" "), head.rfind("\n"))
    return head[:space].rstrip() if space >= size * _WORD_BACK else head


def _tagged(text: str) -> str:
    """Escaped text to go inside a tag, short enough that the tag always fits the message."""
    short = _cut(text, MAX_TAGGED - 1)
    return escape(short if short == text else short + "…")


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
