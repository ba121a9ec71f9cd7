"""The Bitrix24 Open Lines adapter: events in (fetch or webhook), engine, BB-code replies out."""

from handlers.bitrix24.channel import BitrixChannel
from handlers.bitrix24.events import ChatEvent
from handlers.bitrix24.registration import EVENTS_PATH, find_bot_id
from handlers.bitrix24.web import (
    BITRIX_CHANNEL,
    INSTALL_PATH,
    open_bitrix,
    setup_bitrix,
)

__all__ = [
    "BITRIX_CHANNEL",
    "EVENTS_PATH",
    "INSTALL_PATH",
    "BitrixChannel",
    "ChatEvent",
    "find_bot_id",
    "open_bitrix",
    "setup_bitrix",
]
