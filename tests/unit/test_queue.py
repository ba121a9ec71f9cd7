"""The operator queue service: take, reply, transfer, close, transcript, figures, re-flagging."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from conftest import FakeClock, failing_once
from counting import counting
from engine_fixtures import DEAL, ENTRIES, NONSENSE, Rig, rig, text_of
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channel import Draft
from bot.delivery import pipeline
from bot.engine import (
    Event,
    Say,
    State,
    TicketClosed,
    TicketFlagged,
    TicketTransferred,
    conversation_state,
)
from bot.errors import (
    TicketClosedError,
    TicketError,
    TicketNotFoundError,
    TicketNotTakenError,
    TicketTakenError,
)
from bot.queue.actions import Answer, Close, Reflag, SendEntry, Take, Transfer


@pytest.fixture
def db_url(sqlite_db_url: str) -> str:
    return sqlite_db_url


@pytest.fixture
def bot(sessions: async_sessionmaker[AsyncSession], clock: object) -> Rig:
    return rig(sessions, clock, queue={"reflag_minutes": 15})  # type: ignore[arg-type]


async def _escalate(bot: Rig, person: str = "42") -> None:
    await bot.say(NONSENSE, person=person)
    await bot.say("позовите оператора", person=person)


async def test_waiting_tickets_are_listed_oldest_first(bot: Rig, clock: object) -> None:
    for person in ("1", "2", "3"):
        await _escalate(bot, person)
        clock.advance(minutes=1)  # type: ignore[attr-defined]
    await bot.queue.take(2, "anna")
    views = await bot.queue.list_tickets(("waiting",))
    assert [v.id for v in views] == [1, 3] and views[0].conversation_id == "chat-1"
    assert (await bot.queue.get(2)).operator == "anna"


async def test_release_closes_a_held_ticket_without_asking_the_person_and_only_once(
    bot: Rig, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _escalate(bot)
    await bot.queue.take(1, "anna")
    said = len(await bot.queue.transcript(1))
    async with sessions.begin() as session:
        [closed] = await bot.queue.release(session, 1, "the line", "its session ended")
    assert isinstance(closed, TicketClosed) and closed.ticket_id == 1
    assert closed.operator == "anna" and not closed.cancelled
    assert (await bot.queue.get(1)).status == "closed"
    assert len(await bot.queue.transcript(1)) == said  # nothing stored for the person
    async with sessions.begin() as session:
        assert await bot.queue.release(session, 1, "the line", "its session ended") == []


async def test_release_is_part_of_the_callers_transaction(
    bot: Rig, sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    """The channel's fact and the ticket's close commit together or not at all; the release
    is logged once, when it committed (a rolled-back try and its retry were two lines)."""
    caplog.set_level(logging.INFO, logger="bot.engine.closing")
    await _escalate(bot)
    with pytest.raises(RuntimeError, match="the caller failed"):
        async with sessions.begin() as session:
            await bot.queue.release(session, 1, "the line", "its session ended")
            raise RuntimeError("the caller failed after the release")
    assert (await bot.queue.get(1)).status == "waiting"
    assert "ticket released" not in caplog.text
    async with sessions.begin() as session:
        await bot.queue.release(session, 1, "the line", "its session ended")
    assert caplog.text.count("ticket released ticket=1 ") == 1


async def test_reply_needs_the_ticket_taken_then_reaches_the_person(
    bot: Rig, clock: object
) -> None:
    await _escalate(bot)
    clock.advance(minutes=4)  # type: ignore[attr-defined]
    with pytest.raises(TicketNotTakenError, match="take it first"):
        await bot.queue.reply(1, "anna", "Откройте CRM")
    assert (await bot.queue.get(1)).status == "waiting"
    await bot.queue.take(1, "anna")
    out = await bot.queue.reply(1, "anna", "  Откройте CRM  ")
    [said] = out
    assert isinstance(said, Say) and said.reply.blocks == ("Откройте CRM",)
    assert said.conversation_id == "chat-42" and said.operator == "anna"
    view = await bot.queue.get(1)
    assert view.status == "taken" and view.operator == "anna"
    assert view.first_reply_at == view.taken_at and view.taken_at - view.created_at == timedelta(
        minutes=4
    )  # type: ignore[operator]


async def test_transfer_hands_the_ticket_on(bot: Rig) -> None:
    await _escalate(bot)
    await bot.queue.take(1, "anna")
    out = await bot.queue.transfer(1, "bob")
    assert "bob" in text_of(out)
    assert [o.operator for o in out if isinstance(o, TicketTransferred)] == ["bob"]
    assert (await bot.queue.get(1)).operator == "bob"


async def test_bad_operator_actions_are_clear_errors_and_change_nothing(bot: Rig) -> None:
    await _escalate(bot)
    with pytest.raises(TicketNotFoundError):
        await bot.queue.take(99, "anna")
    with pytest.raises(TicketNotFoundError):
        await bot.queue.transcript(99)
    with pytest.raises(TicketError, match="empty"):
        await bot.queue.reply(1, "anna", "   ")
    await bot.queue.take(1, "anna")
    with pytest.raises(TicketTakenError, match="anna"):
        await bot.queue.take(1, "bob")
    await bot.queue.close(1, "anna")
    for action in (
        bot.queue.take(1, "bob"),
        bot.queue.close(1, "bob"),
        bot.queue.reply(1, "bob", "hi"),
        bot.queue.transfer(1, "bob"),
    ):
        with pytest.raises(TicketClosedError):
            await action
    view = await bot.queue.get(1)
    assert view.status == "closed" and view.operator == "anna"


async def test_operator_closing_while_the_person_writes_returns_them_to_the_bot(bot: Rig) -> None:
    await _escalate(bot)
    await bot.queue.close(1, "anna")
    out = await bot.say(DEAL)
    assert isinstance(out[0], Say) and out[0].reply.title == DEAL


async def test_transcript_has_the_whole_exchange(bot: Rig) -> None:
    await _escalate(bot)
    await bot.say("подробности")
    await bot.queue.take(1, "anna")
    await bot.queue.reply(1, "anna", "ответ")
    lines = await bot.queue.transcript(1)
    authors = [line.author for line in lines]
    assert authors[:2] == ["person", "bot"] and lines[0].text == NONSENSE
    assert ("person", "подробности") in [(x.author, x.text) for x in lines]
    assert (lines[-1].author, lines[-1].operator, lines[-1].text) == ("operator", "anna", "ответ")


async def test_figures(bot: Rig, clock: object) -> None:
    await _escalate(bot, "1")
    await _escalate(bot, "2")
    clock.advance(minutes=10)  # type: ignore[attr-defined]
    await bot.queue.take(1, "anna")
    await bot.queue.reply(1, "anna", "ok")
    await bot.queue.close(1, "anna")
    await bot.say(payload="rate:1:4", person="1")
    figures = await bot.queue.figures()
    assert (figures.waiting, figures.taken, figures.tickets) == (1, 0, 2)
    assert figures.median_wait == figures.median_first_response == timedelta(minutes=10)
    assert figures.ratings == (4,)


async def test_a_ticket_nobody_takes_is_flagged_again_once_per_timeout(
    bot: Rig, clock: object
) -> None:
    await _escalate(bot)
    assert await bot.queue.reflag_overdue() == []
    clock.advance(minutes=16)  # type: ignore[attr-defined]
    flagged = await bot.queue.reflag_overdue()
    assert [(type(o), o.ticket_id) for o in flagged] == [(TicketFlagged, 1)]
    assert isinstance(flagged[0], TicketFlagged) and "16" in flagged[0].notice
    assert await bot.queue.reflag_overdue() == []
    clock.advance(minutes=15)  # type: ignore[attr-defined]
    assert len(await bot.queue.reflag_overdue()) == 1
    await bot.queue.take(1, "anna")
    clock.advance(minutes=60)  # type: ignore[attr-defined]
    assert await bot.queue.reflag_overdue() == []


async def test_external_ref_finds_the_ticket(bot: Rig) -> None:
    await _escalate(bot)
    await bot.queue.set_external_ref(1, "topic:77")
    found = await bot.queue.by_external_ref("topic:77")
    assert found is not None and found.id == 1
    assert await bot.queue.by_external_ref("topic:78") is None
    mine = await bot.queue.open_ticket_for("test", "chat-42")
    assert mine is not None and mine.id == 1
    assert await bot.queue.open_ticket_for("test", "chat-43") is None


async def test_take_moves_the_conversation_to_the_operator(bot: Rig) -> None:
    await _escalate(bot)
    out = await bot.queue.take(1, "anna")
    assert "anna" in text_of(out)
    async with bot.sessions() as session:
        from bot.storage.repo import find_conversation

        conv = await find_conversation(session, "test", "chat-42")
        assert conv is not None
        assert await conversation_state(session, conv.id) == State.OPERATOR


async def test_an_action_and_its_outbox_rows_commit_together(
    bot: Rig, db: AsyncEngine, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """bot/delivery opens the action's transaction (:func:`pipeline.act`), the queue applies it
    there and each channel's pure render gives the rows of its events: an outbox write that
    fails leaves nothing of the reply (not even its log line), and the one that succeeds
    commits the reply and its row together."""
    caplog.set_level(logging.INFO, logger="bot.queue.service")
    await _escalate(bot)
    render = pipeline.each(_memory)
    reply = Answer(1, "anna", "ответ", force=True)
    with failing_once(db, "INSERT INTO outbox") as failed, pytest.raises(OSError):
        await pipeline.act(bot.queue, reply, {"memory": render}, clock)
    assert failed
    view = await bot.queue.get(1)  # nothing of the failed reply was kept
    assert (view.status, view.operator, view.first_reply_at) == ("waiting", None, None)
    assert [line.author for line in await bot.queue.transcript(1)][-1] != "operator"
    assert "operator answered" not in caplog.text

    acted = await pipeline.act(bot.queue, reply, {"memory": render}, clock)
    assert caplog.text.count("operator answered ticket=1 ") == 1
    assert text_of(acted.events) == "ответ"
    assert [(row.channel, row.chat_id, row.method) for row in acted.rows] == [
        ("memory", "chat-42", "say")
    ]
    assert (await bot.queue.get(1)).operator == "anna"


async def test_each_action_is_one_commit_with_its_rows(
    bot: Rig, db: AsyncEngine, clock: FakeClock
) -> None:
    """What an action does and the outbox rows of its events commit together, once: no second
    transaction for the rows, none for a read before the action."""
    await _escalate(bot)
    renders = {"memory": pipeline.each(_memory)}
    for action in (
        Take(1, "anna"),
        Answer(1, "anna", "ответ"),
        SendEntry(1, "anna", ENTRIES[0].id),
        Transfer(1, "bob", by="anna"),
        Close(1, "bob", "готово"),
        Reflag(),
    ):
        with counting(db.sync_engine) as counted:
            acted = await pipeline.act(bot.queue, action, renders, clock)
        assert len(counted.commits) == 1, (action, counted.statements)
        says = [e for e in acted.events if isinstance(e, Say)]
        assert len(acted.rows) == len(says), action


def _memory(event: Event) -> list[Draft]:
    """An in-memory channel's pure render: one call per message to the person."""
    return [Draft(event.conversation_id, "say")] if isinstance(event, Say) else []
