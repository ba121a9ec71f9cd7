"""The bot's errors, rooted at ``knowledge.errors.HelpbotError``; adapters map them to replies."""

from __future__ import annotations

from knowledge.errors import HelpbotError

__all__ = [
    "EngineError",
    "HelpbotError",
    "StorageError",
    "TicketClosedError",
    "TicketError",
    "TicketNotFoundError",
    "TicketNotTakenError",
    "TicketNotYoursError",
    "TicketTakenError",
]


class StorageError(HelpbotError):
    """The database cannot be reached, migrated or is in an unexpected state."""


class EngineError(HelpbotError):
    """The engine got an event it cannot handle (a malformed event, not a person's input)."""


class TicketError(HelpbotError):
    """An operator action on a ticket that cannot be done; the message says why."""

    def __init__(self, ticket_id: int, reason: str) -> None:
        super().__init__(f"ticket {ticket_id}: {reason}")
        self.ticket_id = ticket_id
        self.reason = reason


class TicketNotFoundError(TicketError):
    def __init__(self, ticket_id: int) -> None:
        super().__init__(ticket_id, "no such ticket")


class TicketClosedError(TicketError):
    def __init__(self, ticket_id: int) -> None:
        super().__init__(ticket_id, "the ticket is closed")


class TicketTakenError(TicketError):
    """Another operator took the ticket first."""

    def __init__(self, ticket_id: int, operator: str) -> None:
        super().__init__(ticket_id, f"already taken by {operator}")
        self.operator = operator


class TicketNotYoursError(TicketTakenError):
    """Another operator holds the ticket: only they (or a supervisor's forced take) may act."""

    def __init__(self, ticket_id: int, operator: str) -> None:
        TicketError.__init__(
            self,
            ticket_id,
            f"{operator} holds it; only {operator} may do that (--force takes it over)",
        )
        self.operator = operator


class TicketNotTakenError(TicketError):
    """Nobody has taken the ticket yet: take it before answering."""

    def __init__(self, ticket_id: int) -> None:
        super().__init__(ticket_id, "nobody has taken it yet: take it first")
