"""What one Bitrix24 open-line message costs in database commits (issue 12: at most 3), through
the channel as `helpbot serve` wires it — the fetch poller, the one inbox worker with the
processor, the one outbox worker with the REST client — against the fake portal on loopback,
driven pass by pass (the workers are not started)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from counting import counting
from fakes.bitrix24 import FakeBitrix24
from sqlalchemy import select

from bot.app import build
from bot.services import Services
from bot.settings import DatabaseSettings
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage, Ticket
from handlers.bitrix24.channel import BitrixChannel
from handlers.bitrix24.events import ChatEvent
from handlers.bitrix24.models import BitrixChat
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


@dataclass
class Rig:
    portal: FakeBitrix24
    services: Services
    channel: BitrixChannel
    poller: EventPoller
    bot_id: int


@asynccontextmanager
async def rigged(db_url: str, kb: KnowledgeBase) -> AsyncIterator[Rig]:
    """The fake portal with the bot registered, and the channel as `helpbot serve` wires it
    (fetch mode), its workers not started: each test drives the passes itself."""
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
            yield Rig(portal, services, channel, poller, bot_id)


async def test_a_lone_open_line_message_costs_three_commits(
    db_url: str, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    """The page of events and its offset are stored with the message claimed by this process
    (no claim commit), the turn's reply row is reserved for this process's outbox in its own
    INSERT (no claim or "sending" commit), and the call's outcome is the third commit."""
    async with rigged(db_url, kb) as rig:
        portal, services, channel, poller = rig.portal, rig.services, rig.channel, rig.poller
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
        assert {(row.status, row.sending_since) for row in rows} == {(DeliveryStatus.DONE, None)}
        assert {row.status for row in inbox} == {DeliveryStatus.DONE}
        assert "unknown outcome" not in caplog.text


async def test_a_message_opening_a_new_session_after_a_hand_off_costs_three_commits(
    db_url: str, kb: KnowledgeBase
) -> None:
    """The line's operator finished the handed-off session and the customer's next message is
    the first the bot sees of a new one (no join before it). The ticket that went with the old
    session is released by the engine in the turn that answers the message (the message says
    which session ended: ``Incoming.released``), the chat's row noted there too: no commit
    before the turn (there was one)."""
    async with rigged(db_url, kb) as rig:
        portal, services, channel, poller = rig.portal, rig.services, rig.channel, rig.poller
        chat = await portal.open_line_chat(customer_name="Ann")
        await portal.customer_sends(chat, "оператор")
        while await poller.poll_once():
            await channel.inbox.drain()
            await channel.outbox.drain()
        assert portal.transfers, "the hand-off was made"
        async with services.sessions() as session:
            assert (await session.scalars(select(Ticket))).one().status == "waiting"

        later = str(int(chat.session.id) + 100)  # a session the bot holds again
        # ... and is a member of again (Portal.start_session invites it), or its answer is
        # refused (ACCESS_DENIED) and handed to the line's people: a second ticket.
        chat.members.add(rig.bot_id)
        message = ChatEvent(
            kind="message", key="msg:new-session", bot_id=rig.bot_id, chat_id=chat.id,
            dialog_id=chat.dialog_id, entity_type="LINES", session_id=later,
            user_id=str(chat.customer.id), user_name="Ann", from_customer=True,
            text=QUESTION, owner=rig.bot_id,
        )  # fmt: skip
        with counting(services.db.sync_engine) as counted:
            assert await channel.accept(message)
            assert len(counted.commits) == 1  # stored, claimed by this process
            await channel.inbox.drain()
            assert len(counted.commits) == 2  # the release, the turn, the chat, the reply
            await channel.outbox.drain()  # the call's outcome (what the portal says)
        assert len(counted.commits) == 3, counted.commits
        async with services.sessions() as session:
            ticket = (await session.scalars(select(Ticket))).one()
            answer = (await session.scalars(select(OutboxMessage))).all()[-1]
            row = await session.get(BitrixChat, chat.id)
        assert (ticket.status, ticket.note) == ("closed", "the open-line session ended")
        assert "пароль" in answer.params["fields"]["message"].lower()
        assert row is not None and (row.session_id, row.handed_session) == (later, None)
