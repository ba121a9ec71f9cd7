"""The fake Bitrix24 portal for end-to-end tests; it lives in the tests.fakes.bitrix24 package."""

from .bitrix24 import (
    CallRecord,
    Delivery,
    FakeBitrix24,
    FakeBot,
    FakeChat,
    FakeMessage,
    FakeUser,
    Transfer,
)

__all__ = [
    "CallRecord",
    "Delivery",
    "FakeBitrix24",
    "FakeBot",
    "FakeChat",
    "FakeMessage",
    "FakeUser",
    "Transfer",
]
