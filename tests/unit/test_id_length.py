"""Values cut before they are stored are cut to the length of the column that holds them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import String

from bot.settings import ReplicaSettings
from bot.storage.lengths import ID_LENGTH
from bot.storage.models import (
    Contact,
    Conversation,
    InboxUpdate,
    KbPhrasing,
    KbReload,
    Message,
    OutboxMessage,
    Ticket,
    TicketAction,
    TicketEntry,
)

CUT = [  # every column a value is cut to ID_LENGTH for (grep "[:ID_LENGTH]")
    Ticket.external_ref,  # a channel's ref (the queue, a turn handing a ticket on)
    Message.channel_message_id,
    TicketAction.operator,
    TicketEntry.operator,
    KbReload.requested_by,
    KbPhrasing.decided_by,
    Contact.external_id,  # `helpbot chat --person`
    Conversation.external_id,
    InboxUpdate.external_id,  # a Bitrix24 event's key
    InboxUpdate.claimed_by,  # REPLICA_ID
    OutboxMessage.claimed_by,
]


def test_the_columns_values_are_cut_for_are_id_length_long() -> None:
    for column in CUT:
        kind = column.property.columns[0].type
        assert isinstance(kind, String) and kind.length == ID_LENGTH, column


def test_a_replica_id_longer_than_its_claims_column_is_refused() -> None:
    assert ReplicaSettings(id="r" * ID_LENGTH).id
    with pytest.raises(ValidationError):
        ReplicaSettings(id="r" * (ID_LENGTH + 1))
