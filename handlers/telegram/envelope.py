"""The Telegram update envelope, checked before an update is stored and read when processed.

An update is read with aiogram's models. A value from a Bot API newer than aiogram (a new kind
of ``forward_origin``, say) must not cost the person their answer: the field holding it is
dropped, with a log line, and the rest is read. An update whose ids, chat or sender are missing
or of the wrong shape cannot be processed at all: it is refused at the door (a webhook answers
400) instead of being stored and failing later.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from pydantic import ValidationError

log = logging.getLogger(__name__)

MAX_DROPS = 8  # fields dropped from one update before it counts as malformed


class EnvelopeError(ValueError):
    """The update cannot be read; the message says where (never its content)."""


class RawGetUpdates(TelegramMethod[list[dict[str, Any]]]):
    """``getUpdates`` answering raw dicts: one update aiogram cannot read must not cost the
    whole batch (the offset would never move past it)."""

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


def update_id_ok(value: object) -> bool:
    """Telegram's update ids are non-negative 64-bit integers (JSON ``true`` is not one)."""
    return type(value) is int and 0 <= value < 2**63


def read_update(raw: object, bot: Bot | None = None, *, quiet: bool = False) -> Update:
    """The update as aiogram's model; fields aiogram cannot read are dropped (logged).

    Raises :class:`EnvelopeError` when what cannot be read is the update itself.
    """
    if not isinstance(raw, dict) or not update_id_ok(raw.get("update_id")):
        raise EnvelopeError("not an update (no valid update_id)")
    data = raw
    for _ in range(MAX_DROPS):
        try:
            return Update.model_validate(data, context={"bot": bot})
        except ValidationError as exc:
            if data is raw:
                data = copy.deepcopy(raw)
            dropped = [where for err in exc.errors() if (where := _drop(data, err))]
            if not dropped:
                first = exc.errors()[0]
                place = ".".join(str(p) for p in first["loc"])
                raise EnvelopeError(f"{place}: {first['type']}") from None
            if quiet:
                continue
            log.warning(
                "update field unreadable, dropped update=%s fields=%s",
                raw["update_id"], ",".join(dropped),
            )  # fmt: skip
    raise EnvelopeError("too many unreadable fields")


class UpdateReader:
    """Reads one bot's updates once on the usual path: at the door (:meth:`check`, before an
    update is stored) and, when it is processed in this process soon after, the door's model
    again (:meth:`read`) instead of a second parse of the same JSON. An update read whole at
    the door is kept (the last :data:`KEEP` of them); one with a field dropped, one stored
    by another replica or long ago, is read again from its stored JSON (the drops logged then).
    """

    KEEP = 256  # more than the events in hand at once (8) and a webhook burst's group commit

    def __init__(self, bot: Bot | None) -> None:
        self._bot = bot
        self._read: dict[int, Update] = {}  # insertion order: the oldest goes first

    def check(self, raw: object) -> dict[str, Any]:
        """``raw`` when it is an update that can be processed, else :class:`EnvelopeError`."""
        if not isinstance(raw, dict) or not update_id_ok(raw.get("update_id")):
            raise EnvelopeError("not an update (no valid update_id)")
        try:
            update = Update.model_validate(raw, context={"bot": self._bot})
        except ValidationError:
            read_update(raw, quiet=True)  # the drops are logged when the update is processed
            return raw
        self._read[update.update_id] = update
        if len(self._read) > self.KEEP:
            del self._read[next(iter(self._read))]
        return raw

    def read(self, raw: dict[str, Any]) -> Update:
        """The update as aiogram's model (see :func:`read_update`), read once at the door."""
        key = raw.get("update_id")
        update = self._read.pop(key, None) if isinstance(key, int) else None
        return update if update is not None else read_update(raw, self._bot)


def _drop(data: dict[str, Any], error: Any) -> str | None:
    """Remove the optional field that holds an unreadable value; None when there is none.

    Only a field inside an update's object is dropped (a nested object missing a field goes
    whole), never the object itself or its ids, chat or sender: without those the update is
    malformed.
    """
    loc = list(error["loc"])
    if error["type"] == "missing":
        loc = loc[:-1]  # the object that lacks a field
    node: Any = data
    path: list[str | int] = []
    for part in loc:
        if not _holds(node, part):
            break
        path.append(part)
        node = node[part]
    if len(path) < 2 or (len(path) == 2 and path[1] in _REQUIRED):
        return None
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return ".".join(str(p) for p in path)


def _holds(node: Any, part: object) -> bool:
    if isinstance(node, dict):
        return isinstance(part, str) and part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


# An update's object is not itself without these.
_REQUIRED = frozenset({"chat", "from", "id", "message_id", "date", "user"})
