"""A channel as the core sees it: it renders the engine's events into calls, and sends them.

``render(event) -> list[Draft]`` is pure (no session, no I/O): everything it needs is on the
event (the reply, the case card, the operators' notice, the chat it is about) or in the
channel's own settings, so it is unit-tested without a database; one event at a time, the same
in every turn (a channel never needs a turn's other events to render one). What only the moment
of sending can know (a card as it is then, a message id Telegram gave, the Bitrix24 bot's id on
the portal) is resolved by ``send``. The send side — ``name``, ``pace``,
``send(call) -> Outcome``, ``unreachable`` — is what the one outbox worker drives
(:class:`bot.delivery.outcome.Channel`); this protocol extends it with ``render``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.delivery.outcome import Channel as Sender
from bot.engine.events import Event
from bot.storage.models import DeliveryStatus, OutboxMessage


@dataclass(frozen=True, slots=True)
class Draft:
    """One call a channel rendered, not stored yet: ``method`` with ``params`` to ``chat_id``.

    ``to_topic`` posts into the ticket's operators' thread; ``kind`` names a call whose
    parameters ``send`` completes (a card edit, a reaction) or that is looked up later (the card).
    """

    chat_id: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    ticket_id: int | None = None
    to_topic: bool = False
    kind: str = ""


class Channel(Sender, Protocol):
    """A channel plug-in: renders events (pure) and sends the stored calls.

    Every channel — ``handlers/telegram``, ``handlers/bitrix24``, ``handlers/terminal`` — is
    one object with all of it (``tests/unit/test_channel_protocol.py`` checks each, and renders
    every event type with each with no database and no I/O)."""

    def render(self, event: Event) -> list[Draft]:
        """The calls ``event`` needs in this channel (``[]`` when it is not its own)."""
        ...


def outbox_rows(channel: str, drafts: Iterable[Draft], now: datetime) -> list[OutboxMessage]:
    """The drafts as pending outbox rows of ``channel``, due now, in their order."""
    return [
        OutboxMessage(
            channel=channel,
            chat_id=draft.chat_id,
            ticket_id=draft.ticket_id,
            to_topic=draft.to_topic,
            kind=draft.kind,
            method=draft.method,
            params=draft.params,
            status=DeliveryStatus.PENDING,
            attempts=0,
            not_before=now,
            created_at=now,
        )
        for draft in drafts
    ]
