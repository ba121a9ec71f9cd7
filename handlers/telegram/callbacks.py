"""Callback data of the bot's inline buttons (each packs to at most 64 bytes)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class PressData(CallbackData, prefix="e", sep="|"):
    """A person's press; ``payload`` is the engine's own button payload (``fb:ok:12``)."""

    payload: str


class TakeData(CallbackData, prefix="take"):
    """An operator's «Взять» on a ticket card."""

    ticket: int


class KbData(CallbackData, prefix="kb"):
    """An operator's press on a ``/kb`` result: send that entry (by its short key) to the person."""

    ticket: int
    key: str


class TakeOverData(CallbackData, prefix="takeover"):
    """A supervisor's «Забрать» on the card of a ticket another operator holds."""

    ticket: int
