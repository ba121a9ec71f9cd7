"""The terminal channel: events as lines of text, rendered without a database and printed."""

from __future__ import annotations

import io

from bot.engine import HandToQueue, Relayed, Say, TicketClosed
from bot.replies import Button, Reply
from handlers.terminal.channel import TerminalChannel

WHERE = {"channel": "telegram", "conversation_id": "42"}


async def test_every_channels_events_print_as_text_for_whoever_is_at_the_terminal() -> None:
    out = io.StringIO()
    events = [
        Say(**WHERE, reply=Reply(("Ответ",), buttons=(Button("Помогло", "h:1"),)), ticket_id=1),
        Relayed(**WHERE, ticket_id=1, message_id=5, text="ещё вопрос"),
        TicketClosed(**WHERE, ticket_id=1, notice="Закрыто", operator="anna"),
        HandToQueue(**WHERE, ticket_id=1),
    ]
    await TerminalChannel(out).show(events)
    assert out.getvalue().splitlines() == [
        "to person ticket #1: Ответ",
        "",
        "[1] Помогло",
        "to operators [Relayed] ticket #1: ещё вопрос",
        "to operators [TicketClosed] ticket #1: Закрыто",
        "to operators [HandToQueue] ticket #1",
    ]
