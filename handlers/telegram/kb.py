"""The keyboard of a ``/kb`` search in a ticket's topic: one button per entry, whose callback
names the ticket and the entry by a short key (callback data holds 64 bytes; entry ids may not
fit)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.telegram.callbacks import KbData
from knowledge.model import Entry

_LABEL = 60  # characters of a title on a button


def entry_key(entry_id: str) -> str:
    """Ten characters that name an entry among the knowledge base's (a hash of its id)."""
    digest = hashlib.blake2b(entry_id.encode("utf-8"), digest_size=8).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:10]


def results_markup(ticket: int, entries: Sequence[Entry]) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=e.title if len(e.title) <= _LABEL else e.title[: _LABEL - 1] + "…",
                callback_data=KbData(ticket=ticket, key=entry_key(e.id)).pack(),
            )
        ]
        for e in entries
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)
