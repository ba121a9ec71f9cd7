"""What one Bitrix24 open-line message costs in database commits (issue 12: at most 3), through
the channel as `helpbot serve` wires it — the fetch poller, the one inbox worker with the
processor, the one outbox worker with the REST client — against the fake portal on loopback,
driven pass by pass (the workers are not started)."""

from __future__ import annotations

import pytest
from counting import counting
from fakes.bitrix24 import FakeBitrix24
from sqlalchemy import select

from bot.app import build
from bot.settings import DatabaseSettings
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage
from handlers.bitrix24.poller import EventPoller
from handlers.bitrix24.registration import find_bot_id
from handlers.bitrix24.registration import register as register_on_portal
from handlers.bitrix24.rest.client import create_client
from handlers.bitrix24.settings import BitrixSettings
from handlers.bitrix24.web import bitrix_channel
from handlers.settings import Settings
from knowledge.base import KnowledgeBase

QUESTION = "Как восстановить пароль от Битрикс24"
BOT_TOKEN = "bot-token-0123456789abcdef"


async def test_a_lone_open_line_message_costs_three_commits(
    db_url: str, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    """The page of events and its offset are stored with the message claimed by this process
    (no claim commit), the turn's reply row is reserved for this process's outbox in its own
    INSERT (no claim or "sending" commit), and the call's outcome is the third commit."""
    async with FakeBitrix24() as portal:
        bitrix = BitrixSettings(webhook_url=portal.webhook_url, bot_token=BOT_TOKEN)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database=DatabaseSettings(url=db_url),
            bitrix=bitrix,
        )
        async with build(settings, kb=kb) as app, create_client(bitrix) as client:
            services = await app.services()
            await register_on_portal(client, bitrix, "Helpbot")
            bot_id = await find_bot_id(client, bitrix.bot_code)
            assert bot_id is not None
            channel = bitrix_channel(services, client, bitrix)
            poller = EventPoller(
                sessions=services.sessions,
                client=client,
                clock=services.clock,
                bot_id=bot_id,
                inbox=channel.inbox,
            )
            chat = await portal.open_line_chat(customer_name="Ann")
            assert await poller.poll_once()  # the bot joins: greeted, before the count
            await channel.inbox.drain()
            await channel.outbox.drain()
            greeted = len(portal.bot_messages(chat))

            with counting(services.db.sync_engine) as counted:
                await portal.customer_sends(chat, QUESTION)
                assert await poller.poll_once()
                assert len(counted.commits) == 1  # the page, its offset, the message claimed
                await channel.inbox.drain()
                assert len(counted.commits) == 2  # the turn, its reply row and the event settled
                await channel.outbox.drain()
                await channel.inbox.drain()  # nothing left: looks, no commit
                await channel.outbox.drain()
            answers = portal.bot_messages(chat)[greeted:]
            assert len(answers) == 1 and "пароль" in answers[0].text.lower()
            assert len(counted.commits) == 3, counted.commits
            assert not counted.starting("UPDATE inbox SET claimed_by")  # no claim of its own
            async with services.sessions() as session:
                rows = list(await session.scalars(select(OutboxMessage)))
                inbox = list(await session.scalars(select(InboxUpdate)))
            assert {(row.status, row.sending_since) for row in rows} == {
                (DeliveryStatus.DONE, None)
            }
            assert {row.status for row in inbox} == {DeliveryStatus.DONE}
            assert "unknown outcome" not in caplog.text
