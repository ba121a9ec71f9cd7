"""Telegram delivery against FakeTelegram and a real SQLite database, driven pass by pass.

The channel is wired as `helpbot serve` wires it, but its workers are not started: each test
stores updates in the inbox and drains the inbox and the outbox itself, so every step is
deterministic. Failures are injected only at the outside world's edge (the database driver).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import FakeClock, failing_once
from counting import counting
from fakes.telegram_server import FakeChat, FakeTelegram, FakeUser
from serving import telegram_settings
from sqlalchemy import select
from sqlalchemy import update as update_rows
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.__main__ import main
from bot.app import build
from bot.delivery import giveup, pipeline
from bot.delivery.outcome import ANSWER
from bot.engine import Incoming
from bot.queue.actions import Answer, Close, Reflag
from bot.services import Services
from bot.settings import DatabaseSettings, DeliverySettings, QueueSettings, RedisSettings
from bot.storage import claims, delivery
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage, Ticket
from handlers.bitrix24 import storage as bitrix
from handlers.bitrix24.models import BitrixChat
from handlers.settings import Settings
from handlers.telegram.calls import CARD
from handlers.telegram.channel import TelegramChannel, create_telegram_channel
from handlers.telegram.settings import OperatorSettings
from knowledge.base import KnowledgeBase

QUESTION = "Как восстановить пароль от Битрикс24"
REFLAG_MINUTES = 15


@dataclass
class Rig:
    fake: FakeTelegram
    services: Services
    channel: TelegramChannel
    group: FakeChat
    ann: FakeUser
    db_url: str

    async def sends(self, text: str) -> None:
        """Ann writes to the bot; the update is stored as polling would store it."""
        self.fake.user_sends(self.ann, text)
        await self.channel.inbox.store(self.fake.pending_updates[-1:])

    async def rows(self, **where: Any) -> list[OutboxMessage]:
        async with self.services.sessions() as session:
            query = select(OutboxMessage).order_by(OutboxMessage.id)
            for name, value in where.items():
                query = query.where(getattr(OutboxMessage, name) == value)
            return list(await session.scalars(query))

    async def tickets(self) -> list[Ticket]:
        async with self.services.sessions() as session:
            return list(await session.scalars(select(Ticket).order_by(Ticket.id)))


@asynccontextmanager
async def rigged(
    db_url: str,
    kb: KnowledgeBase,
    clock: Any = None,
    *,
    operators_by: Callable[[FakeTelegram, FakeChat], FakeChat] | None = None,
    **sections: Any,
) -> AsyncIterator[Rig]:
    """``operators_by(fake, group)``: the chat OPERATOR_CHAT_ID names (the group by default)."""
    async with FakeTelegram() as fake:
        olga = fake.add_user("Olga")
        group = fake.add_forum_group("Support", members=[olga])
        configured = group if operators_by is None else operators_by(fake, group)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database=DatabaseSettings(url=db_url),
            telegram=telegram_settings(fake, chat_per_second=100.0, group_per_minute=20.0),
            operator=OperatorSettings(chat_id=configured.id),
            queue=QueueSettings(reflag_minutes=REFLAG_MINUTES),
            **sections,
        )
        async with build(settings, kb=kb, clock=clock) as app:
            services = await app.services()
            channel = create_telegram_channel(services)
            try:
                ann = fake.add_user("Ann", started=True)
                yield Rig(fake, services, channel, group, ann, db_url)
            finally:
                await channel.aclose()


async def test_an_outbox_write_failing_after_the_turn_loses_no_reply_and_repeats_none(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with rigged(sqlite_db_url, kb) as rig:
        await rig.sends(QUESTION)
        with failing_once(rig.services.db, "INSERT INTO outbox") as failed:
            await rig.channel.inbox.drain()
        assert failed, "the turn reached the outbox write"
        assert await rig.rows() == []
        async with rig.services.sessions() as session:
            (update,) = await session.scalars(select(InboxUpdate))
        assert (update.status, update.attempts) == (DeliveryStatus.PENDING, 1)

        # The process restarts and the stored update is retried: the turn runs again, whole.
        again = create_telegram_channel(rig.services)
        try:
            await again.inbox.drain()
            await again.inbox.drain()  # nothing is left to process twice
            await again.outbox.drain()
        finally:
            await again.aclose()
        async with rig.services.sessions() as session:
            (update,) = await session.scalars(select(InboxUpdate))
        assert update.status == DeliveryStatus.DONE
        (answer,) = rig.fake.bot_messages(rig.ann)
        assert "пароль" in (answer.text or "")


async def test_texts_cost_three_commits_at_most_and_each_settles_with_its_turn(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    """Issue 12: a text's store, its turn (the replies' outbox rows and the update settled in
    one commit) and its share of the workers' claims and send records: at most 3 commits, and
    the update is marked done once, by the turn."""
    async with rigged(sqlite_db_url, kb) as rig:
        people = [rig.ann, *(rig.fake.add_user(f"P{n}", started=True) for n in range(4))]
        with counting(rig.services.db.sync_engine) as counted:
            for person in people:
                rig.fake.user_sends(person, QUESTION)
                await rig.channel.inbox.store(rig.fake.pending_updates[-1:])
            await rig.channel.inbox.drain()
            await rig.channel.inbox.drain()  # nothing left: a look, no commit
            await rig.channel.outbox.drain()
        assert all(len(rig.fake.bot_messages(person)) == 1 for person in people)
        assert len(counted.commits) <= 3 * len(people)
        # stored claimed: each turn settles, alone
        assert len(counted.starting("UPDATE inbox")) == len(people)
        async with rig.services.sessions() as session:
            statuses = set(await session.scalars(select(InboxUpdate.status)))
        assert statuses == {DeliveryStatus.DONE}


async def test_a_lone_text_costs_three_commits_store_turn_and_the_sends_outcome(
    db_url: str, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12, one text with nothing to share its commits with: the update is stored claimed
    by this process (no claim commit), the turn's reply row is reserved for this process's
    outbox in the turn's own INSERT (no claim or "sending" commit), and the send's outcome is
    the third commit. The looks for more work after it are reads."""
    async with rigged(db_url, kb) as rig:
        with counting(rig.services.db.sync_engine) as counted:
            await rig.sends(QUESTION)
            assert len(counted.commits) == 1  # the store
            await rig.channel.inbox.drain()
            assert len(counted.commits) == 2  # the turn, its reply row and the update settled
            await rig.channel.outbox.drain()
            await rig.channel.inbox.drain()  # nothing left: looks, no commit
            await rig.channel.outbox.drain()
        (answer,) = rig.fake.bot_messages(rig.ann)
        assert "пароль" in (answer.text or "")
        assert len(counted.commits) == 3, counted.commits
        assert not counted.starting("UPDATE inbox SET claimed_by")  # no claim of its own
        # Ann is new: her contact and conversation are one INSERT each (no look-up first, no
        # savepoint, no UPDATE of the row just written, no ticket looked for), and the reply's
        # INSERT sees for itself that it is its chat's first unsent row
        for wasted in ("SAVEPOINT", "UPDATE contacts", "SELECT tickets", "SELECT DISTINCT"):
            assert not counted.starting(wasted), counted.statements
        (row,) = await rig.rows()
        assert row.status == DeliveryStatus.DONE and row.sending_since is None
        async with rig.services.sessions() as session:
            (update,) = await session.scalars(select(InboxUpdate))
        assert update.status == DeliveryStatus.DONE
        assert "unknown outcome" not in caplog.text


async def test_a_known_chats_text_with_no_ticket_open_looks_for_no_ticket(
    db_url: str, kb: KnowledgeBase
) -> None:
    """The turn of a known chat's text: the locked conversation with its contact in one SELECT,
    the person's message, the reply, its outbox row (on PostgreSQL after the chat's outbox
    lock) and the update settled. No ticket is looked for on either database while the locked
    row says none is open (on SQLite it is joined to the lock's SELECT)."""
    async with rigged(db_url, kb) as rig:
        await rig.sends(QUESTION)
        await rig.channel.inbox.drain()
        await rig.channel.outbox.drain()
        await rig.sends(QUESTION + "?")
        with counting(rig.services.db.sync_engine) as counted:
            await rig.channel.inbox.drain()
        assert len(counted.commits) == 1, counted.commits  # the turn
        turn = [" ".join(s.split()[:3]) for s in counted.statements if s.split()[0] != "BEGIN"]
        lock = ["SELECT pg_advisory_xact_lock($1::BIGINT) AS"] if "postgresql" in db_url else []
        assert turn == [
            "SELECT conversations.id, conversations.channel,",
            "INSERT INTO messages", "INSERT INTO messages", *lock, "INSERT INTO outbox",
            "UPDATE inbox SET",
        ], counted.statements  # fmt: skip


async def test_a_send_whose_outcome_was_not_recorded_is_made_again_and_reported(
    sqlite_db_url: str, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    async with rigged(sqlite_db_url, kb) as rig:
        await rig.sends(QUESTION)
        await rig.channel.inbox.drain()
        # sendMessage reaches Telegram, then recording it fails: as if the process died there.
        with (
            failing_once(rig.services.db, "UPDATE outbox", "sent_at") as failed,
            pytest.raises(OSError),
        ):
            await rig.channel.outbox.drain()
        assert failed and len(rig.fake.bot_messages(rig.ann)) == 1
        (row,) = await rig.rows()
        assert row.status == DeliveryStatus.PENDING and row.sending_since is not None

        # The restarted worker cannot ask Telegram whether it arrived: it sends again and says so.
        again = create_telegram_channel(rig.services)
        try:
            await again.outbox.drain()
        finally:
            await again.aclose()
        assert len(rig.fake.bot_messages(rig.ann)) == 2
        (row,) = await rig.rows()
        assert row.status == DeliveryStatus.DONE and row.sending_since is None
        assert "sent again after an unknown outcome" in caplog.text
        exposed = await rig.services.metrics.registry.expose()
        assert 'helpbot_send_unknown_outcome_total{channel="telegram"} 1' in exposed


async def test_a_stop_during_a_slow_send_records_it_and_a_restart_sends_nothing_twice(
    sqlite_db_url: str, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    """The channel's stop lets the send in flight finish and records its outcome: cancelling it
    left the row marked as being sent, and the restarted worker sent the reply again."""
    async with rigged(sqlite_db_url, kb) as rig:
        await rig.sends(QUESTION)
        rig.fake.latency = 1.0  # every Bot API call takes a second: the stop lands mid-send
        rig.channel.start_workers()
        deadline = time.monotonic() + 20
        while not (in_flight := [r.id for r in await rig.rows() if r.sending_since is not None]):
            assert time.monotonic() < deadline, "no send was ever in flight"
            await asyncio.sleep(0.01)
        await rig.channel.stop()
        rig.fake.latency = 0.0

        done = {row.id for row in await rig.rows(status=DeliveryStatus.DONE)}
        assert set(in_flight) <= done
        assert not [row for row in await rig.rows() if row.sending_since is not None]

        again = create_telegram_channel(rig.services)
        try:
            await again.outbox.drain()
        finally:
            await again.aclose()
        rows = await rig.rows()
        assert rows and all(row.status == DeliveryStatus.DONE for row in rows)
        methods = Counter(row.method for row in rows)
        assert {m: len(rig.fake.calls(m, ok=True)) for m in methods} == dict(methods)
        assert "unknown outcome" not in caplog.text


async def test_a_refused_send_leaves_no_doubt_behind(sqlite_db_url: str, kb: KnowledgeBase) -> None:
    async with rigged(sqlite_db_url, kb) as rig:
        await rig.sends(QUESTION)
        await rig.channel.inbox.drain()
        rig.fake.force_error(1, 502, method="sendMessage")
        await rig.channel.outbox.drain()
        (row,) = await rig.rows()
        assert row.status == DeliveryStatus.PENDING and row.sending_since is None


async def test_an_operators_group_set_up_by_its_pre_upgrade_id_fails_naming_the_new_id(
    sqlite_db_url: str, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    # Turning topics on upgrades a basic group to a supergroup under a new id; the old id then
    # answers 400 with migrate_to_chat_id (telegram-bot-api Client::check_chat_access). The
    # operators' rows fail at once with the new id in the log (they were retried for a day),
    # and the person is still answered.
    upgraded = FakeTelegram.add_upgraded_group
    async with rigged(sqlite_db_url, kb, operators_by=upgraded) as rig:
        await rig.sends("/operator")
        await rig.channel.inbox.drain()
        await rig.channel.outbox.drain()

        assert rig.fake.bot_messages(rig.ann)
        failed = await rig.rows(status=DeliveryStatus.FAILED)
        assert failed and {row.to_topic for row in failed} == {True}
        assert await rig.rows(status=DeliveryStatus.PENDING) == []
        assert f"set OPERATOR_CHAT_ID={rig.group.id}" in caplog.text
        assert rig.fake.calls("createForumTopic", ok=True) == []


async def test_a_method_the_bot_api_server_does_not_have_fails_at_once(
    sqlite_db_url: str, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    # telegram-bot-api answers 404 only for a method it does not know (Client.cpp
    # "Not Found: method not found"; TDLib's own 404s leave as 400): retrying cannot help.
    async with rigged(sqlite_db_url, kb) as rig:
        await rig.sends(QUESTION)
        await rig.channel.inbox.drain()
        text = "Not Found: method not found"
        rig.fake.force_error(1, 404, method="sendMessage", description=text)
        await rig.channel.outbox.drain()
        row, *handed = await rig.rows()  # the answer, and its hand-off to the operators
        assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 1)
        assert "the Bot API server has no sendMessage" in caplog.text
        assert [r.kind for r in handed] == [CARD]


async def _operator_cli(rig: Rig, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    """`helpbot operator --as anna ARGV…`, run as its own program would run (its own loop)."""
    monkeypatch.setenv("DATABASE_URL", rig.db_url)
    monkeypatch.setenv("OPERATOR_CHAT_ID", str(rig.group.id))
    return await asyncio.to_thread(main, ["operator", "--as", "anna", *argv])


async def test_operator_cli_reply_to_a_telegram_ticket_reaches_the_person(
    sqlite_db_url: str,
    kb: KnowledgeBase,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    async with rigged(sqlite_db_url, kb) as rig:
        ticket = await _ticket_with_topic(rig)

        assert await _operator_cli(rig, monkeypatch, "take", str(ticket.id)) == 0
        await rig.channel.outbox.drain()
        before = len(rig.fake.bot_messages(rig.ann))
        capsys.readouterr()
        argv = ("reply", str(ticket.id), "Сбросьте кэш <и> войдите снова")
        assert await _operator_cli(rig, monkeypatch, *argv) == 0
        assert "queued 3 message(s) for telegram" in capsys.readouterr().out  # and the card
        row, reaction = await rig.rows(chat_id=str(rig.ann.id), status=DeliveryStatus.PENDING)
        (edit,) = await rig.rows(kind="card_edit", status=DeliveryStatus.PENDING)
        assert (edit.method, edit.ticket_id) == ("editMessageText", ticket.id)
        assert (row.method, row.ticket_id) == ("sendMessage", ticket.id)
        assert reaction.method == "setMessageReaction"  # 👌 on the question: answered

        await rig.channel.outbox.drain()  # the running `helpbot serve` (nothing woke it)
        said = rig.fake.bot_messages(rig.ann)[before:]
        assert [m.text for m in said] == ["Сбросьте кэш <и> войдите снова"]

        assert await _operator_cli(rig, monkeypatch, "close", "1") == 0
        await rig.channel.outbox.drain()
        assert "закрыто" in (rig.fake.bot_messages(rig.ann)[-1].text or "")
        assert any("закрыт" in (m.text or "") for m in rig.fake.bot_messages(rig.group))


async def test_operator_cli_reply_to_a_bitrix24_ticket_is_queued_for_the_line_chat(
    sqlite_db_url: str,
    kb: KnowledgeBase,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    monkeypatch.chdir(tmp_path)
    async with rigged(sqlite_db_url, kb) as rig:
        await _bitrix_ticket(rig.services)
        (ticket,) = await rig.tickets()
        assert await _operator_cli(rig, monkeypatch, "take", str(ticket.id)) == 0
        argv = ("reply", str(ticket.id), "Ответ из терминала")
        assert await _operator_cli(rig, monkeypatch, *argv) == 0
        (_, row) = await rig.rows(channel=bitrix.CHANNEL, kind=ANSWER)  # the take's notice first
        assert row.chat_id == "chat77" and row.status == DeliveryStatus.PENDING
        assert row.params["dialogId"] == "chat77"  # the bot's id: filled in by its sender
        assert "Ответ из терминала" in row.params["fields"]["message"]  # type: ignore[index]
        assert await rig.rows(channel="telegram") == []
        async with rig.services.sessions() as session:  # the reply showed no choices
            chat = await session.get(BitrixChat, 77)
            assert chat is not None and chat.choices is None and chat.dialog_id == "chat77"


async def _bitrix_ticket(services: Services) -> None:
    """A Bitrix24 open-line customer who asked for an operator."""
    async with services.sessions.begin() as session:
        now = services.clock.now()
        chat = BitrixChat(chat_id=77, dialog_id="chat77", bot_id=9, updated_at=now)
        session.add(chat)
        chat.choices = ["a payload a typed 1 meant"]
    incoming = Incoming(bitrix.CHANNEL, "chat77", "5", text="/operator", message_id="b1")
    await services.engine.handle(incoming)


async def test_reminders_flag_only_the_tickets_whose_reminder_telegram_sends(
    sqlite_db_url: str, kb: KnowledgeBase, clock: Any
) -> None:
    async with rigged(sqlite_db_url, kb, clock) as rig:
        await rig.sends("/operator")
        await rig.channel.inbox.drain()
        await _bitrix_ticket(rig.services)
        clock.advance(minutes=REFLAG_MINUTES + 1)

        assert await rig.channel.reflag() == 1
        telegram, other = await rig.tickets()
        assert telegram.flagged_at is not None
        assert other.flagged_at is None  # not reminded here, so not marked as reminded
        await rig.channel.outbox.drain()
        assert any("16" in (m.text or "") for m in rig.fake.bot_messages(rig.group))
        assert await rig.channel.reflag() == 0
        # Still due wherever Bitrix24 tickets are reminded (`helpbot operator reflag`).
        reflag = Reflag((bitrix.CHANNEL,))
        (due,) = (await pipeline.act(rig.services.queue, reflag, {}, rig.services.clock)).events
        assert due.ticket_id == other.id


async def test_a_slow_chat_backlog_does_not_hold_up_other_chats(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with rigged(sqlite_db_url, kb) as rig:
        now = rig.services.clock.now()

        def row(chat: int, text: str) -> OutboxMessage:
            return OutboxMessage(
                channel="telegram",
                chat_id=str(chat),
                method="sendMessage",
                params={"text": text},
                status=DeliveryStatus.PENDING,
                not_before=now,
                created_at=now,
            )

        backlog = [row(rig.group.id, f"notice {n}") for n in range(250)]  # 20 a minute
        async with rig.services.sessions.begin() as session:
            await delivery.add_outbox(session, [*backlog, row(rig.ann.id, "your answer")])
        started = time.monotonic()
        await rig.channel.outbox.drain()
        refilled = int((time.monotonic() - started) * 20 / 60)  # the group's bucket: 20 a minute
        assert [m.text for m in rig.fake.bot_messages(rig.ann)] == ["your answer"]
        sent = [m.text for m in rig.fake.bot_messages(rig.group)]
        assert sent == [f"notice {n}" for n in range(len(sent))] and 0 < len(sent) <= 20 + refilled


async def test_pending_outbox_takes_every_chats_oldest_rows_first(
    sessions: async_sessionmaker[AsyncSession], clock: Any
) -> None:
    now = clock.now()
    chats = ["-100", "-100", "-100", "7", "-100", "8", "7"]
    async with sessions.begin() as session:
        await delivery.add_outbox(
            session,
            [
                OutboxMessage(
                    channel="telegram",
                    chat_id=chat,
                    method="sendMessage",
                    params={"n": n},
                    status=DeliveryStatus.PENDING,
                    not_before=now,
                    created_at=now,
                )
                for n, chat in enumerate(chats)
            ],
        )
    async with sessions() as session:
        first = await claims.pending_outbox(session, "telegram", 3)
        everything = await claims.pending_outbox(session, "telegram", 100)
        assert await claims.pending_outbox(session, "bitrix24", 100) == []
    assert [(r.chat_id, r.params["n"]) for r in first] == [("-100", 0), ("7", 3), ("8", 5)]
    order = [(r.chat_id, r.params["n"]) for r in everything]
    assert order[3:] == [("-100", 1), ("7", 6), ("-100", 2), ("-100", 4)]


async def test_a_send_failing_for_longer_than_the_old_give_up_window_is_delivered(
    sqlite_db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    async with rigged(sqlite_db_url, kb, clock) as rig:
        await rig.sends(QUESTION)
        await rig.channel.inbox.drain()
        rig.fake.force_error(None, 502, method="sendMessage")  # an outage
        for _ in range(12):  # twelve tries over ~6 minutes: once given up after ~15 s
            await rig.channel.outbox.drain()
            clock.advance(seconds=DeliverySettings().retry_cap)
        (row,) = await rig.rows()
        assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 12)
        rig.fake.clear_faults()
        await rig.channel.outbox.drain()
        (row,) = await rig.rows()
        assert (row.status, row.attempts) == (DeliveryStatus.DONE, 13)
        (answer,) = rig.fake.bot_messages(rig.ann)
        assert "пароль" in (answer.text or "")


async def test_a_send_failing_past_the_deadline_is_given_up_with_the_attempts_made(
    sqlite_db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    async with rigged(sqlite_db_url, kb, clock) as rig:
        await rig.sends(QUESTION)
        await rig.channel.inbox.drain()
        rig.fake.force_error(None, 502, method="sendMessage")
        await rig.channel.outbox.drain()
        clock.advance(seconds=DeliverySettings().give_up_after)
        await rig.channel.outbox.drain()
        row, *handed = await rig.rows()  # the answer, and its hand-off's card (502 too)
        made = rig.fake.calls("sendMessage", chat=rig.ann)
        assert (row.status, row.attempts) == (DeliveryStatus.FAILED, len(made))
        assert len(made) == 2
        assert [r.kind for r in handed] == [CARD]


async def test_a_retry_of_an_update_another_replica_took_does_not_make_the_inbox_spin(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with rigged(sqlite_db_url, kb) as rig:
        await rig.sends(QUESTION)
        with failing_once(rig.services.db, "INSERT INTO outbox") as failed:
            delay = await rig.channel.inbox.drain()
        assert failed and 0 < delay <= giveup.RETRY_SECONDS  # the failed update's retry is due
        # Our claim lapsed and another replica took the update: it is no longer ours to wait for.
        async with rig.services.sessions.begin() as session:
            await session.execute(
                update_rows(InboxUpdate).values(
                    claimed_by="replica-b", claimed_until=datetime.now(UTC) + timedelta(hours=1)
                )
            )
        # Nothing to wait for before that claim runs out (an hour): the longest nap.
        assert await rig.channel.inbox.drain() == rig.services.settings.delivery.idle_seconds


async def test_an_operator_message_in_a_closed_tickets_topic_is_answered_not_relayed(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with rigged(sqlite_db_url, kb) as rig:
        ticket = await _ticket_with_topic(rig)
        close = Close(ticket.id, "Olga", "решено")  # nothing rendered: the topic stays open
        await pipeline.act(rig.services.queue, close, {}, rig.services.clock)
        await rig.channel.outbox.drain()
        before = len(rig.fake.bot_messages(rig.ann))

        (topic,) = rig.fake.topics(rig.group)
        pat = rig.fake.add_user("Pat")
        rig.fake.add_member(rig.group, pat)
        rig.fake.operator_sends(rig.group, topic.thread_id, pat, "Ещё одно уточнение")
        await rig.channel.inbox.store(rig.fake.pending_updates[-1:])
        await rig.channel.inbox.drain()
        await rig.channel.outbox.drain()
        assert rig.fake.bot_messages(rig.ann)[before:] == []
        (notice,) = rig.fake.ephemeral_messages(rig.group, receiver=pat)  # Pat's alone
        assert notice.text == f"Обращение №{ticket.id} уже закрыто."


async def test_a_send_refused_because_the_person_blocked_the_bot_tells_the_topic_once(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with rigged(sqlite_db_url, kb) as rig:
        ticket = await _ticket_with_topic(rig)
        rig.fake.block_bot(rig.ann)  # its my_chat_member update is not stored: the send finds out
        for text in ("Вы здесь?", "Ответьте, пожалуйста"):
            reply = Answer(ticket.id, "Olga", text, force=True)  # Olga takes it by replying
            await rig.channel.deliverer.act(rig.services.queue, reply)
        await rig.channel.outbox.drain()
        await rig.channel.outbox.drain()
        failed = await rig.rows(chat_id=str(rig.ann.id), status=DeliveryStatus.FAILED)
        assert [row.method for row in failed] == [
            "sendMessage",
            "setMessageReaction",
            "sendMessage",
        ]
        (topic,) = rig.fake.topics(rig.group)
        notices = [
            m.text
            for m in rig.fake.bot_messages(rig.group, thread_id=topic.thread_id)
            if "заблокировал" in (m.text or "")
        ]
        assert notices == [
            f"Не доставлено: пользователь заблокировал бота (обращение №{ticket.id})."
        ]


@asynccontextmanager
async def restarted(rig: Rig) -> AsyncIterator[TelegramChannel]:
    """The channel as a restarted process builds it again over the same database."""
    again = create_telegram_channel(rig.services)
    try:
        yield again
    finally:
        await again.aclose()


def _blocked_notices(rig: Rig) -> list[str | None]:
    (topic,) = rig.fake.topics(rig.group)
    return [
        m.text
        for m in rig.fake.bot_messages(rig.group, thread_id=topic.thread_id)
        if "заблокировал" in (m.text or "")
    ]


async def _ticket_with_topic(rig: Rig) -> Ticket:
    await rig.sends("/operator")
    await rig.channel.inbox.drain()
    await rig.channel.outbox.drain()
    (ticket,) = await rig.tickets()
    return ticket


async def test_a_failure_storing_the_blocked_notice_of_a_refused_send_keeps_the_mark_unset(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    """The wave that finds the person unreachable marks their ticket and stores the operators'
    notice in one commit. Before, the notice had a transaction of its own after the mark: a
    failure between them lost it for good (the ticket was marked, so it was never told again)."""
    async with rigged(sqlite_db_url, kb) as rig:
        ticket = await _ticket_with_topic(rig)
        rig.fake.block_bot(rig.ann)  # its my_chat_member update is not stored: the send finds out
        reply = Answer(ticket.id, "Olga", "Вы здесь?", force=True)
        await rig.channel.deliverer.act(rig.services.queue, reply)
        with (
            failing_once(rig.services.db, "INSERT INTO outbox") as failed,
            pytest.raises(OSError),
        ):
            await rig.channel.outbox.drain()
        assert failed
        (ticket,) = await rig.tickets()
        assert ticket.person_blocked_at is None  # not marked without the notice

        async with restarted(rig) as again:  # the refused send is made again
            await again.outbox.drain()
            await again.outbox.drain()
        (ticket,) = await rig.tickets()
        assert ticket.person_blocked_at is not None
        assert _blocked_notices(rig) == [
            f"Не доставлено: пользователь заблокировал бота (обращение №{ticket.id})."
        ]


async def test_a_failure_storing_the_blocked_notice_of_a_block_update_retries_both(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    """The person's my_chat_member "kicked" update: the mark, the notice and the update's
    settling are one transaction, so a failure in it retries all of them."""
    async with rigged(sqlite_db_url, kb) as rig:
        ticket = await _ticket_with_topic(rig)
        rig.fake.block_bot(rig.ann)
        await rig.channel.inbox.store(rig.fake.pending_updates[-1:])
        with failing_once(rig.services.db, "INSERT INTO outbox") as failed:
            await rig.channel.inbox.drain()
        assert failed
        (ticket,) = await rig.tickets()
        assert ticket.person_blocked_at is None

        async with restarted(rig) as again:  # the update is retried
            await again.inbox.drain()
            await again.outbox.drain()
        (ticket,) = await rig.tickets()
        assert ticket.person_blocked_at is not None
        assert len(_blocked_notices(rig)) == 1
        async with rig.services.sessions() as session:
            statuses = list(await session.scalars(select(InboxUpdate.status)))
        assert statuses == [DeliveryStatus.DONE] * len(statuses)


async def test_an_update_is_answered_while_redis_cannot_be_reached(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    # aiogram's FSM is off: Redis (here: nobody listening) is not on the path of an update, and
    # the shared send limits step aside for the process's own.
    nobody = RedisSettings(url="redis://127.0.0.1:1/0")  # type: ignore[arg-type]
    async with rigged(sqlite_db_url, kb, redis=nobody) as rig:
        await rig.sends(QUESTION)
        await rig.channel.inbox.drain()
        await rig.channel.outbox.drain()
        (answer,) = rig.fake.bot_messages(rig.ann)
        assert "пароль" in (answer.text or "")
        async with rig.services.sessions() as session:
            (update,) = await session.scalars(select(InboxUpdate))
        assert (update.status, update.attempts) == (DeliveryStatus.DONE, 0)
