"""Fixtures of the tests of the fake Telegram Bot API itself: `fake` (a local-mode server), `bot`
(a real aiogram client of it) and `ann` (a person who started the bot). A test module imports
`fake_fixture, bot_fixture, ann_fixture`; pytest knows them by those names."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from fake_telegram_helpers import FAST_WEBHOOK, make_bot
from fakes.telegram_server import FakeTelegram, FakeUser


@pytest.fixture(name="fake")
async def fake_fixture() -> AsyncIterator[FakeTelegram]:
    """A local-mode server (webhooks over loopback http), short long-polls."""
    async with FakeTelegram(
        poll_hold_scale=0.1, webhook_policy=FAST_WEBHOOK, local_mode=True
    ) as server:
        yield server


@pytest.fixture(name="bot")
async def bot_fixture(fake: FakeTelegram) -> AsyncIterator[Bot]:
    client = make_bot(fake)
    yield client
    await client.session.close()


@pytest.fixture(name="ann")
def ann_fixture(fake: FakeTelegram) -> FakeUser:
    return fake.add_user("Ann", username="ann", started=True)
