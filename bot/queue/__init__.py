"""The operator queue: operators' actions on tickets (:mod:`.service`), the rules and locks an
action obeys (:mod:`.guard`) and what operators read about tickets (:mod:`.views`)."""

from bot.queue.service import OperatorQueue
from bot.queue.views import (
    QueueFigures,
    TicketView,
    TranscriptLine,
    ticket_view,
    transcript_lines,
)

__all__ = [
    "OperatorQueue",
    "QueueFigures",
    "TicketView",
    "TranscriptLine",
    "ticket_view",
    "transcript_lines",
]
