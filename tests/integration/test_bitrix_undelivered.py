"""A Bitrix24 answer the outbox gave up, handed to the line's people by the channel's own
``BitrixSender.undelivered`` on a real database (SQLite, and PostgreSQL when set): the real
engine and processor; the give-up's transactions made here as the outbox worker makes them, or
by real outbox workers (two of them on one row: handed over once, by the worker's conditional
give-up, which ``test_delivery_worker.py`` holds for any channel).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from conftest import FakeClock
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from test_bitrix_processor import OTHER_QUESTION, _message, _outbox, _settings, _store, _worker

from bot.app import build
from bot.delivery import Call
from bot.delivery.outcome import ANSWER
from bot.delivery.worker import OutboxWorker
from bot.services import Services
from bot.storage import repo as core_repo
from bot.storage.models import Conversation, Ticket
from handlers.bitrix24 import storage as repo
from handlers.bitrix24.events import ChatEvent
from handlers.bitrix24.models import BitrixChat
from handlers.bitrix24.replies import GREETING_KIND, HAND_OFF, HAND_OFF_KIND, NOTE_KIND, SEND
from handlers.bitrix24.rest.errors import error_from_envelope
from handlers.bitrix24.sender import BitrixSender
from knowledge.base import KnowledgeBase

REFUSAL = "ACCESS_DENIED: Access denied"  # chat-message-send.md: the bot is no participant
STILL_FAILING = "SENDING_FAILED: Sending failed"  # retried, still failing at the give-up deadline


class _NoPortal:
    """The hand-off makes no call: its calls are outbox rows."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        raise AssertionError(f"no call expected: {method}")


def _answer(row: int) -> Call:
    return Call(id=row, chat_id="chat77", method=SEND, params={}, kind=ANSWER)


async def _given_up(services: Services, sender: BitrixSender, row: int, reason: str) -> None:
    async with services.sessions.begin() as session:
        await sender.undelivered(session, _answer(row), reason)


async def _answered(services: Services) -> tuple[BitrixSender, int]:
    """The chat's first question answered (its row, its session 900); the sender and the
    outbox's length then."""
    await _store(services, _message("m1", OTHER_QUESTION))
    await _worker(services).drain()
    sender = BitrixSender(_NoPortal(), services.clock, bot_code="helpbot", engine=services.engine)  # type: ignore[arg-type]
    return sender, len(await _outbox(services))


async def test_an_answer_given_up_hands_the_session_over_and_a_later_one_is_a_note(
    db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    """The sender's hand-off (once per row is the worker's conditional give-up:
    ``test_delivery_worker.py``): a give-up transaction rolled back stores nothing, its retry
    opens one ticket and transfers the chat's session, the ticket's ref that session; a second
    answer of the chat given up is a note in the open ticket."""
    async with build(_settings(db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        sender, before = await _answered(services)

        with pytest.raises(RuntimeError):
            async with services.sessions.begin() as session:
                await sender.undelivered(session, _answer(1), STILL_FAILING)
                raise RuntimeError("the give-up's commit failed")
        await _given_up(services, sender, 1, STILL_FAILING)  # the retry
        await _given_up(services, sender, 2, STILL_FAILING)  # another answer of that turn

        async with services.sessions() as session:
            (ticket,) = (await session.scalars(select(Ticket))).all()
            chat = await session.get(BitrixChat, 77)
        assert ticket.status == "waiting" and ticket.reason == f"undelivered:{STILL_FAILING}"[:32]
        assert ticket.question == OTHER_QUESTION
        assert ticket.external_ref == repo.handed_ref(77, "900")
        assert chat is not None and chat.handed_session == "900"
        rows = (await _outbox(services))[before:]
        added = [(row.method, row.kind) for row in rows]
        assert added == [(SEND, NOTE_KIND), (HAND_OFF, HAND_OFF_KIND), (SEND, NOTE_KIND)]
        line = rows[-1].params["fields"]  # for the line's people, never the customer
        assert "SENDING_FAILED" in line["message"] and line["skipConnector"] == "Y"

        # The customer's next word in that session is the line's: recorded, unanswered.
        await _store(services, _message("m2", "алло?", owner=0))
        await _worker(services).drain()
        assert len(await _outbox(services)) == before + len(added)


async def test_a_bot_out_of_the_chat_gets_no_note_queued_only_the_transfer(
    db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    """``ACCESS_DENIED``: every note into that chat would be refused the same way, so the
    ticket (its reason the refusal, for ``helpbot operator``) goes with the transfer alone, and
    a later answer given up in that open ticket queues nothing."""
    async with build(_settings(db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        sender, before = await _answered(services)
        await _given_up(services, sender, 1, REFUSAL)
        await _given_up(services, sender, 2, REFUSAL)

        async with services.sessions() as session:
            (ticket,) = (await session.scalars(select(Ticket))).all()
        assert ticket.reason == f"undelivered:{REFUSAL}"[:32]
        added = [(row.method, row.kind) for row in (await _outbox(services))[before:]]
        assert added == [(HAND_OFF, HAND_OFF_KIND)]


async def test_an_answer_given_up_in_a_session_the_line_holds_opens_no_ticket(
    db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    """The line's people took the session (the chat's owner 0: in their queue) before the
    answer was given up: they have the customer, so no ticket is opened and nothing queued."""
    async with build(_settings(db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        sender, _ = await _answered(services)
        await _store(services, _message("m2", "алло?", owner=0))
        await _worker(services).drain()
        before = len(await _outbox(services))
        await _given_up(services, sender, 1, STILL_FAILING)

        async with services.sessions() as session:
            assert (await session.scalars(select(Ticket))).all() == []
        assert len(await _outbox(services)) == before


class _Portal:
    """A portal whose bot is a member of the chat until ``leave``; from then every message is
    refused with the method's ``ACCESS_DENIED`` (HTTP 400, b24restdocs ``api-reference/
    chat-bots/chat-bots-v2/imbot.v2/messages/chat-message-send.md``); other calls answered."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.member = True

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.calls.append(method)
        if method == "imbot.v2.Bot.get":
            return {"bot": {"id": 5, "code": "helpbot", "eventMode": "fetch"}}
        if method == SEND and not self.member:
            raise error_from_envelope("ACCESS_DENIED", "Access denied", 400)
        return {"id": len(self.calls)} if method == SEND else True


def _join(session: str) -> ChatEvent:
    return ChatEvent(
        kind="join", key=f"join-{session}", bot_id=5, chat_id=77, dialog_id="chat77",
        entity_type="LINES", session_id=session, user_id="31", user_name="Ann",
        from_customer=True,
    )  # fmt: skip


async def test_a_given_up_greeting_opens_no_ticket(
    db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    """A returning customer's new session greeted while the portal refuses the bot: the
    greeting answers no message, so its give-up opens no ticket and transfers nothing (before,
    it was an answer: a ticket whose question was an earlier session's, the silent session
    handed to the line's queue)."""
    async with build(_settings(db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        worker, portal = _worker(services), _Portal()
        sender = BitrixSender(portal, clock, bot_code="helpbot", engine=services.engine)  # type: ignore[arg-type]
        outbox = OutboxWorker(sender, services.sessions, clock, replica="replica-a")
        await _store(services, _message("m1", OTHER_QUESTION))  # the conversation exists
        await worker.drain()
        await outbox.drain()  # answered
        await _store(services, _join("901"))
        await worker.drain()
        (greeting,) = [row for row in await _outbox(services) if row.status == "pending"]
        assert greeting.kind == GREETING_KIND

        portal.member = False
        await outbox.drain()

        async with services.sessions() as session:
            tickets = (await session.scalars(select(Ticket))).all()
            chat = await session.get(BitrixChat, 77)
        rows = await _outbox(services)
        assert [row.status for row in rows if row.id == greeting.id] == ["failed"]
        assert tickets == [] and HAND_OFF not in portal.calls
        assert all(row.status != "pending" for row in rows)  # nothing queued for it
        assert chat is not None and chat.handed_session is None


async def test_an_answer_two_workers_give_up_hands_the_session_over_once(
    db_url: str, kb: KnowledgeBase, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Worker A's send of an answer hangs past its claim; worker B claims the row, is refused
    and gives it up with its hand-off; A's refusal then finds the row given up (the worker's
    conditional give-up): one ticket, one transfer, the real sender on both."""
    async with build(_settings(db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        portal = _Portal()
        sender = BitrixSender(portal, clock, bot_code="helpbot", engine=services.engine)  # type: ignore[arg-type]
        first = OutboxWorker(sender, services.sessions, clock, replica="replica-a")
        second = OutboxWorker(sender, services.sessions, clock, replica="replica-b")
        await _store(services, _message("m1", OTHER_QUESTION))
        await _worker(services).drain()
        sends = 0
        refuse = portal.call

        async def slow_then_refused(method: str, params: dict[str, Any] | None = None) -> Any:
            nonlocal sends
            if method == SEND:
                sends += 1
                if sends == 1:  # A's send: its claim runs out while it waits, B takes the row
                    clock.advance(seconds=60)
                    await second.drain()
            return await refuse(method, params)

        portal.member = False
        portal.call = slow_then_refused  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING):  # the outbox worker's lines
            await first.drain()

        async with services.sessions() as session:
            (ticket,) = (await session.scalars(select(Ticket))).all()
        assert sends == 2 and ticket.reason == f"undelivered:{REFUSAL}"[:32]
        assert [row.method for row in await _outbox(services)].count(HAND_OFF) == 1
        said = [record.getMessage() for record in caplog.records]
        assert sum("handed to operators" in line for line in said) == 1, said  # B's
        assert sum("given up elsewhere meanwhile" in line for line in said) == 1, said  # A's


async def test_a_give_up_hands_over_the_session_committed_before_it_held_the_conversation(
    pg_db_url: str, kb: KnowledgeBase, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chat's new session (a join of 901, committed by a real turn) lands after the give-up
    of a session-900 answer began and before the engine locked the conversation: the chat's row
    is read once the conversation is held, so 901 — the chat's current session, the one the
    transfer acts on — is the ticket's ref and the session marked handed (read before, it was
    900: the bot then spoke on in 901, the queue's). PostgreSQL only: on SQLite the give-up's
    transaction holds the database's write lock from its BEGIN IMMEDIATE, so nothing commits
    in between."""
    async with build(_settings(pg_db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        sender, _ = await _answered(services)
        locked = core_repo.get_conversation
        joined: list[str] = []

        async def join_first(
            session: AsyncSession, conversation_id: int, *, lock: bool = False
        ) -> Conversation | None:
            if lock and not joined:  # the give-up's lock, not yet taken: the join commits first
                joined.append("901")
                await _store(services, _join("901"))
                await _worker(services).drain()
            return await locked(session, conversation_id, lock=lock)

        monkeypatch.setattr(core_repo, "get_conversation", join_first)
        await _given_up(services, sender, 1, STILL_FAILING)

        async with services.sessions() as session:
            (ticket,) = (await session.scalars(select(Ticket))).all()
            chat = await session.get(BitrixChat, 77)
        assert joined and chat is not None and chat.session_id == "901"
        assert ticket.external_ref == repo.handed_ref(77, "901")
        assert chat.handed_session == "901"
