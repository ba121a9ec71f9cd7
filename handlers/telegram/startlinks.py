"""Telegram start links that open one knowledge-base entry in the bot (``t.me/<bot>?start=…``).

Telegram allows at most 64 characters of ``A-Za-z0-9_-`` after ``?start=``. An entry id that fits
(with the ``a_`` prefix) is used as is; a longer one becomes a 12-character hash of the id, which
:class:`EntryLinks` resolves back.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from knowledge.base import KnowledgeBase
from knowledge.holder import KnowledgeHolder

PREFIX = "a_"
MAX_PAYLOAD = 64
_ALLOWED = re.compile(r"[A-Za-z0-9_-]+")


def entry_token(entry_id: str) -> str:
    """The start payload for an entry: ``a_`` and the id, or a hash when the id does not fit."""
    if len(PREFIX) + len(entry_id) <= MAX_PAYLOAD and _ALLOWED.fullmatch(entry_id):
        return PREFIX + entry_id
    digest = hashlib.blake2b(entry_id.encode("utf-8"), digest_size=9).digest()
    return PREFIX + base64.urlsafe_b64encode(digest).decode("ascii")


def start_link(bot_username: str, entry_id: str) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start={entry_token(entry_id)}"


class EntryLinks:
    """Resolves start payloads back to entry ids: of the given entries, or of the knowledge base
    a holder has in use (followed across reloads)."""

    def __init__(self, entries: Iterable[str] | KnowledgeHolder) -> None:
        self._holder = entries if isinstance(entries, KnowledgeHolder) else None
        self._kb: KnowledgeBase | None = None
        ids = () if isinstance(entries, KnowledgeHolder) else entries
        self._by_token = {entry_token(entry_id): entry_id for entry_id in ids}

    def resolve(self, payload: str) -> str | None:
        """The entry a payload names, or ``None`` for a foreign or stale payload."""
        if self._holder is not None and self._holder.current is not self._kb:
            self._kb = kb = self._holder.current
            self._by_token = {entry_token(e.id): e.id for e in kb.entries}
        return self._by_token.get(payload.strip())
