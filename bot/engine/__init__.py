"""The channel-agnostic conversation engine: Incoming in, typed events out."""

from bot.engine.core import AfterTurn, ConversationEngine, EngineSettings
from bot.engine.events import (
    Event,
    HandToQueue,
    Incoming,
    Relayed,
    Release,
    Resolved,
    Say,
    TicketClosed,
    TicketEvent,
    TicketFlagged,
    TicketOpened,
    TicketRated,
    TicketTaken,
    TicketTransferred,
    Undelivered,
)
from bot.engine.hours import WorkingHours
from bot.engine.state import conversation_state, state_of
from bot.storage.models import State

__all__ = [
    "AfterTurn",
    "ConversationEngine",
    "EngineSettings",
    "Event",
    "HandToQueue",
    "Incoming",
    "Relayed",
    "Release",
    "Resolved",
    "Say",
    "State",
    "TicketClosed",
    "TicketEvent",
    "TicketFlagged",
    "TicketOpened",
    "TicketRated",
    "TicketTaken",
    "TicketTransferred",
    "Undelivered",
    "WorkingHours",
    "conversation_state",
    "state_of",
]
