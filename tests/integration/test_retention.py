"""Retention: `purge` blanks old texts and payloads, keeps the rows and the report's figures."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import FakeClock
from queueing import Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import reports, retention
from bot.__main__ import main
from bot.engine import ConversationEngine, EngineSettings, Incoming
from bot.storage import db as storage_db
from bot.storage.models import (
    DeliveryStatus,
    InboxUpdate,
    Message,
    OutboxMessage,
    Ticket,
    TicketAction,
)
from handlers.settings import Settings
from knowledge.base import KnowledgeBase
from knowledge.model import Entry

DEAL = "Как добавить сделку в CRM"
NONSENSE = "квантовая хромодинамика глюоны"
SECRET_WORDS = "мой пароль hunter2"  # what a person wrote, that must not outlive retention


def _kb() -> KnowledgeBase:
    return KnowledgeBase(
        (Entry(id="crm--deal", title=DEAL, source="crm.md", summary="Откройте CRM, «Добавить»."),)
    )


async def _history(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    """Forty days ago: an answered question, a closed ticket, a waiting ticket, raw rows."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = ConversationEngine(
        _kb(), sessions, clock, EngineSettings(settings.conversation, settings.hours)
    )
    queue = Queue(sessions, clock, reflag_after=timedelta(minutes=15))

    async def say(person: str, text: str) -> None:
        await engine.handle(Incoming("test", f"chat-{person}", person, text))

    await say("1", DEAL)
    await say("2", NONSENSE + " " + SECRET_WORDS)
    await say("2", "позовите оператора")
    clock.advance(minutes=5)
    await queue.take(1, "anna")
    await queue.reply(1, "anna", "Ответ оператора " + SECRET_WORDS)
    await queue.close(1, "anna", "note " + SECRET_WORDS)
    await say("3", "позовите оператора, " + SECRET_WORDS)  # ticket 2 stays waiting
    async with sessions.begin() as session:
        for status in (DeliveryStatus.DONE, DeliveryStatus.PENDING):
            session.add(
                InboxUpdate(
                    channel="telegram",
                    external_id=f"u-{status}",
                    payload={"message": {"text": SECRET_WORDS}},
                    status=status,
                    created_at=clock.now(),
                )
            )
            session.add(
                OutboxMessage(
                    channel="telegram",
                    chat_id="1",
                    method="sendMessage",
                    params={"text": SECRET_WORDS},
                    status=status,
                    not_before=clock.now(),
                    created_at=clock.now(),
                )
            )


async def test_purge_blanks_old_texts_and_keeps_the_figures(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _history(sessions, clock)
    cutoff = clock.now() + timedelta(minutes=1)
    before = await reports.stats(sessions, until=cutoff)
    clock.advance(days=40)
    await _recent_question(sessions, clock)

    async with sessions.begin() as session:
        purged = await retention.purge(session, clock.now() - timedelta(days=30))
    assert purged.tickets == 1 and purged.inbox == 1 and purged.outbox == 1
    assert purged.messages > 0

    assert await reports.stats(sessions, until=cutoff) == before
    async with sessions() as session:
        messages = list(await session.scalars(select(Message).order_by(Message.id)))
        tickets = {t.id: t for t in await session.scalars(select(Ticket))}
        inbox = {r.status: r.payload for r in await session.scalars(select(InboxUpdate))}
        outbox = {r.status: r.params for r in await session.scalars(select(OutboxMessage))}
    old = [m for m in messages if m.created_at < cutoff]
    kept = [m.text for m in old if m.text]
    assert kept and all(SECRET_WORDS in t or "Передал" in t or "оператор" in t for t in kept)
    assert {m.ticket_id for m in old if m.text} <= {2}, "only the open ticket's texts stay"
    assert "свежий вопрос" in [m.text for m in messages], "recent texts stay"
    assert tickets[1].question == "" and tickets[1].note is None
    async with sessions() as session:
        notes = [a.detail for a in await session.scalars(select(TicketAction))]
    assert not any(SECRET_WORDS in (n or "") for n in notes), "the close note went too"
    assert SECRET_WORDS in tickets[2].question, "an open ticket keeps its question"
    assert inbox[DeliveryStatus.DONE] == {} and outbox[DeliveryStatus.DONE] == {}
    assert SECRET_WORDS in str(inbox[DeliveryStatus.PENDING]), "unprocessed rows are kept"
    assert SECRET_WORDS in str(outbox[DeliveryStatus.PENDING])

    async with sessions.begin() as session:
        again = await retention.purge(session, clock.now() - timedelta(days=30))
    assert again == retention.Purged(0, 0, 0, 0)


async def _recent_question(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = ConversationEngine(
        _kb(), sessions, clock, EngineSettings(settings.conversation, settings.hours)
    )
    await engine.handle(Incoming("test", "chat-9", "9", "свежий вопрос"))


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "var" / "helpbot.db"
    monkeypatch.setenv("DATABASE_SQLITE_PATH", str(path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("RETENTION_DAYS", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    return path


def test_db_purge_command(
    cli_database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    url = f"sqlite+aiosqlite:///{cli_database}"

    async def seed() -> None:
        engine = storage_db.create_engine(url)
        try:
            clock = FakeClock()
            clock.current -= timedelta(days=400)  # the command uses the real clock
            await _history(storage_db.create_sessionmaker(engine), clock)
        finally:
            await engine.dispose()

    asyncio.run(seed())
    capsys.readouterr()
    assert main(["db", "purge"]) == 0
    assert "retention is off" in capsys.readouterr().out
    monkeypatch.setenv("RETENTION_DAYS", "30")
    assert main(["db", "purge"]) == 0
    out = capsys.readouterr().out
    assert "tickets 1, inbox 1, outbox 1" in out
    assert main(["db", "purge", "--days", "30"]) == 0
    assert "messages 0, tickets 0, inbox 0, outbox 0" in capsys.readouterr().out
    assert main(["db", "purge", "--days", "-1"]) == 2
