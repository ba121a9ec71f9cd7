"""Filters checked on the event loop.

aiogram runs a filter that is a plain function — a magic filter (``F.text``) among them — in a
thread (``asyncio.to_thread`` in ``CallableObject.call``): a hop to the default executor and
back for every such filter of every update, two for a person's plain text (the private-chat
check and ``F.text``). These checks read an attribute or two, so they run here at once:
:class:`Now` for a magic filter, and the routers' own filters are coroutines.
"""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject
from aiogram.utils.magic_filter import MagicFilter


class Now(Filter):
    """``magic`` resolved on the update's event, as aiogram resolves a magic filter given
    directly, without the thread: the resolved value (falsy: no match)."""

    __slots__ = ("magic",)

    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: TelegramObject) -> Any:
        return self.magic.resolve(event)

    def __str__(self) -> str:
        return f"Now({self.magic!r})"
