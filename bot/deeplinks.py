"""Deep-link tokens for knowledge-base entries: short, stable, within Telegram's payload rules.

Telegram allows at most 64 characters of ``A-Za-z0-9_-`` after ``?start=``. An entry id that fits
(with the ``a_`` prefix) is used as is; a longer one becomes a 12-character hash of the id, which
:class:`EntryLinks` resolves back.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

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
    """Resolves start payloads back to entry ids, for the entries it was built with."""

    def __init__(self, entry_ids: Iterable[str]) -> None:
        self._by_token = {entry_token(entry_id): entry_id for entry_id in entry_ids}

    def resolve(self, payload: str) -> str | None:
        """The entry a payload names, or ``None`` for a foreign or stale payload."""
        return self._by_token.get(payload.strip())
