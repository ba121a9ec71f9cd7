"""Channel-neutral replies as Telegram HTML messages: escaped, split below 4096, with keyboards."""

from __future__ import annotations

import html
from typing import Any

from aiogram.types import InlineKeyboardMarkup

from bot.payloads import Press, decode
from bot.replies import Button, Reply
from handlers.telegram.callbacks import PressData

LIMIT = 4000  # visible characters per message: below Telegram's 4096, with room to spare
_SHORT_LABEL = 3  # labels this short (ratings 1-5) share one row
# Button styles (Bot API 9.4; aiogram 3.31 InlineKeyboardButton.style: primary, success, danger).
# «Не помогло» keeps the app's own look: red (danger) says "destructive", which it is not.
_STYLES = {Press.HELPED: "success"}


def render(reply: Reply, *, limit: int = LIMIT) -> list[str]:
    """The reply as HTML messages: bold title, blocks, links; each part at most ``limit`` chars.

    Splitting happens between blocks, else at a line break or space inside a long block, and
    always before escaping, so a tag or an entity is never cut.
    """
    units: list[tuple[str, str]] = []  # (visible text, its HTML)
    if reply.title.strip():
        units.extend((piece, f"<b>{_escape(piece)}</b>") for piece in _cut(reply.title, limit))
    for block in reply.blocks:
        if block.strip():  # a blank text is refused ("text must be non-empty", TD)
            units.extend((piece, _escape(piece)) for piece in _cut(block, limit))
    for link in reply.links:
        anchor = f'<a href="{html.escape(link.url, quote=True)}">{_escape(link.title)}</a>'
        units.append((link.title, anchor))
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for visible, markup in units:
        if current and size + 2 + _units(visible) > limit:
            parts.append("\n\n".join(current))
            size, current = 0, []
        size += _units(visible) + (2 if current else 0)
        current.append(markup)
    if current:
        parts.append("\n\n".join(current))
    return parts or ["…"]


def keyboard_params(buttons: tuple[Button, ...]) -> dict[str, Any] | None:
    """Inline buttons for the engine's payloads as the Bot API's JSON (short labels, ratings,
    share a row), built without aiogram's models: validating them was most of rendering a
    reply (a test checks this JSON is a valid ``InlineKeyboardMarkup`` and its dump)."""
    rows = _layout(buttons)
    if not rows:
        return None
    return {
        "inline_keyboard": [
            [
                {"text": text, "callback_data": data} | ({} if style is None else {"style": style})
                for text, data, style in row
            ]
            for row in rows
        ]
    }


def _layout(buttons: tuple[Button, ...]) -> list[list[tuple[str, str, str | None]]]:
    """The rows of (label, callback data, style) of the pressable buttons; short labels
    (ratings) share a row."""
    rows: list[list[tuple[str, str, str | None]]] = []
    for button in buttons:
        if not button.payload:
            continue
        item = (button.label, PressData(payload=button.payload).pack(), _style(button.payload))
        short = len(button.label) <= _SHORT_LABEL
        if short and rows and all(len(text) <= _SHORT_LABEL for text, _, _ in rows[-1]):
            rows[-1].append(item)
        else:
            rows.append([item])
    return rows


def message_params(reply: Reply) -> list[dict[str, Any]]:
    """``sendMessage`` parameters (without chat) for each part; the keyboard goes on the last."""
    parts = render(reply)
    markup = keyboard_params(reply.buttons)
    params: list[dict[str, Any]] = [{"text": part, "parse_mode": "HTML"} for part in parts]
    if markup is not None:
        params[-1]["reply_markup"] = markup
    return params


def markup_params(markup: InlineKeyboardMarkup) -> dict[str, Any]:
    return markup.model_dump(mode="json", exclude_none=True)


def _style(payload: str) -> str | None:
    press = decode(payload)
    return None if press is None else _STYLES.get(press.press)


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _cut(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` UTF-16 units, cut at a line break or a space when possible."""
    pieces: list[str] = []
    while _units(text) > limit:
        end = _fit(text, limit)
        cut = text.rfind("\n", 0, end)
        if cut < end // 2:
            cut = text.rfind(" ", 0, end)
        if cut < end // 2:
            cut = end
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def _units(text: str) -> int:
    """Length as Telegram may count it: UTF-16 code units (an emoji can be two)."""
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, limit: int) -> int:
    """How many leading characters of ``text`` fit in ``limit`` UTF-16 units."""
    end = min(len(text), limit)
    while _units(text[:end]) > limit:
        end -= max(1, (_units(text[:end]) - limit) // 2)
    return end
