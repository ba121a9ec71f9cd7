"""The channel-agnostic conversation engine: Incoming events in, Outgoing replies and effects."""

from bot.engine.core import ConversationEngine, EngineSettings
from bot.engine.events import Effect, Incoming, Outgoing, Target
from bot.engine.hours import WorkingHours
from bot.storage.models import State

__all__ = [
    "ConversationEngine",
    "Effect",
    "EngineSettings",
    "Incoming",
    "Outgoing",
    "State",
    "Target",
    "WorkingHours",
]
