"""The terminal as a channel: the engine's events rendered as lines of text, printed.

:meth:`TerminalChannel.render` is pure, like every channel's: a :class:`Say` is the reply as
plain text (numbered buttons), a ticket event the operators' notice (a relayed message its
text). ``send`` prints the line. ``helpbot operator`` prints every channel's events of an
action this way, so what went to a Telegram or Bitrix24 person is seen where it was done.
"""

from __future__ import annotations

import sys
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channel import Draft
from bot.delivery import Call, Done, Outcome
from bot.engine import Event, Relayed, Say, TicketEvent
from bot.replies import render_plain

PRINT = "print"


class TerminalChannel:
    """Prints events to ``out`` (standard output by default)."""

    name = "terminal"

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out

    def render(self, event: Event) -> list[Draft]:
        if isinstance(event, Say):
            line = f"to person ticket #{event.ticket_id}: {render_plain(event.reply)}"
            return [Draft(event.conversation_id, PRINT, {"text": line.rstrip(": ")})]
        if isinstance(event, TicketEvent):
            text = event.text if isinstance(event, Relayed) else event.notice
            line = f"to operators [{type(event).__name__}] ticket #{event.ticket_id}: {text}"
            return [
                Draft(event.conversation_id, PRINT, {"text": line.rstrip(": ")}, event.ticket_id)
            ]
        return []

    async def pace(self, call: Call) -> float:
        return 0.0

    async def send(self, call: Call) -> Outcome:
        print(call.params.get("text", ""), file=self._out or sys.stdout)
        return Done()

    async def unreachable(self, session: AsyncSession, ticket_id: int) -> None:
        return None

    async def undelivered(self, session: AsyncSession, call: Call, reason: str) -> None:
        return None  # printed at once: nothing is given up

    async def show(self, events: list[Event]) -> None:
        """Render and print ``events`` at once (nothing to store: the terminal is here)."""
        for n, draft in enumerate(d for event in events for d in self.render(event)):
            call = Call(n, draft.chat_id, draft.method, draft.params, draft.ticket_id)
            await self.send(call)
