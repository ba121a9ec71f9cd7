"""Storage on SQLite and PostgreSQL: migrations up and down, models match them, repositories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from counting import counting
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import DatabaseSettings
from bot.storage import migrate, repo, tickets
from bot.storage.db import create_engine, database_url
from bot.storage.models import Base, Contact, Message, Ticket, TicketStatus

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TABLES = {
    "contacts",
    "conversations",
    "tickets",
    "messages",
    "feedback",
    "inbox",
    "kb_reloads",
    "kb_phrasings",
    "ticket_actions",
    "ticket_entries",
}


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_go_up_down_and_up_again(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        assert await migrate.current(engine) is None
        await migrate.upgrade(engine)
        assert await migrate.current(engine) == migrate.head() == "0013"
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) >= TABLES
        await migrate.downgrade(engine, "base")
        async with engine.connect() as conn:
            assert not TABLES & await conn.run_sync(_tables)
        await migrate.upgrade(engine)
        assert await migrate.current(engine) == migrate.head()
    finally:
        await engine.dispose()


async def test_models_match_the_migrations(db: AsyncEngine) -> None:
    async with db.connect() as conn:
        assert await conn.run_sync(_diff) == []


def test_sqlite_folder_is_created(tmp_path: Path) -> None:
    url = database_url(DatabaseSettings(sqlite_path=tmp_path / "deep" / "er" / "h.db"))
    assert (tmp_path / "deep" / "er").is_dir() and url.endswith("/deep/er/h.db")


async def test_contact_and_conversation_are_created_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    for name in ("Ion", "Ion Popescu"):
        async with sessions.begin() as session:
            rows = await repo.begin_turn(
                session, "telegram", "c7", "7", display_name=name, language="ro", lang="ro",
                now=NOW,
            )  # fmt: skip
    async with sessions() as session:
        found = await repo.find_conversation(session, "telegram", "c7")
        contact = await session.get(Contact, rows.contact.id)
    assert found is not None and found.id == rows.conversation.id
    assert contact is not None and contact.display_name == "Ion Popescu"


async def _conversation_id(sessions: async_sessionmaker[AsyncSession], person: str = "7") -> int:
    async with sessions.begin() as session:
        rows = await repo.begin_turn(
            session, "t", f"c{person}", person, display_name="", language="", lang="ru", now=NOW
        )
        return rows.conversation.id


async def test_messages_keep_decisions_options_and_aware_times(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    conv_id = await _conversation_id(sessions)
    async with sessions.begin() as session:
        question = await repo.add_message(
            session, Message(conversation_id=conv_id, author="person", text="q", created_at=NOW)
        )
        await repo.add_message(
            session,
            Message(
                conversation_id=conv_id,
                author="bot",
                decision="clarify",
                options=["a", "b" * 200],
                question_id=question.id,
                confidence=0.5,
                created_at=NOW,
            ),
        )
    async with sessions() as session:
        assert await repo.shown_entries(session, question.id) == {"a", "b" * 200}
        stored = await repo.get_message(session, question.id)
    assert stored is not None and stored.created_at == NOW and stored.created_at.tzinfo


async def test_naive_times_and_dangling_references_are_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    conv_id = await _conversation_id(sessions)
    with pytest.raises(Exception, match="naive"):
        async with sessions.begin() as session:
            session.add(
                Message(
                    conversation_id=conv_id, author="person", created_at=NOW.replace(tzinfo=None)
                )
            )
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(Message(conversation_id=999, author="person", created_at=NOW))


async def test_take_is_conditional_and_queue_keeps_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = []
    for n in range(3):
        conv_id = await _conversation_id(sessions, str(n))
        async with sessions.begin() as session:
            ticket = await tickets.create_ticket(
                session,
                conv_id,
                reason="requested",
                question=f"q{n}",
                now=NOW + timedelta(minutes=n),
            )
            ids.append(ticket.id)
    async with sessions.begin() as session:
        assert await tickets.take_ticket(session, ids[0], "anna", NOW)
        assert not await tickets.take_ticket(session, ids[0], "bob", NOW)
    async with sessions() as session:
        taken = await tickets.get_ticket(session, ids[0])
        assert taken is not None and taken.operator == "anna" and taken.status == TicketStatus.TAKEN
        waiting = await tickets.list_tickets(session, (TicketStatus.WAITING,))
        assert [t.id for t in waiting] == ids[1:]
        last = await session.get(Ticket, ids[2])
        assert last is not None and await tickets.queue_position(session, last) == 2


async def test_the_inbound_seen_records_are_kept_in_the_inbox_when_the_table_goes(
    db_url: str,
) -> None:
    engine = create_engine(db_url)
    try:
        await migrate.downgrade(engine, "0007")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO inbound_seen (channel, external_id, created_at) VALUES "
                    "('bitrix24', 'msg:5', :now), ('telegram', 'u7', :now)"
                ),
                {"now": NOW},
            )
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT channel, external_id, status FROM inbox ORDER BY external_id")
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            ("bitrix24", "msg:5", "done"),
            ("telegram", "u7", "done"),
        ]
    finally:
        await engine.dispose()


async def test_a_handed_sessions_ticket_is_kept_by_its_ref_when_the_chats_column_goes(
    db_url: str,
) -> None:
    engine = create_engine(db_url)
    try:
        await migrate.downgrade(engine, "0010")
        async with engine.begin() as conn:
            conv = (
                "INSERT INTO contacts (id, channel, external_id, display_name, language, "
                "created_at) VALUES (1, 'bitrix24', '31', '', '', :now);"
                "INSERT INTO conversations (id, channel, external_id, contact_id, lang, "
                "created_at, updated_at) VALUES (1, 'bitrix24', 'chat77', 1, 'ru', :now, :now)"
            )
            for statement in conv.split(";"):
                await conn.execute(text(statement), {"now": NOW})
            for ticket, ref in ((1, None), (2, "bitrix24:chat78:session5")):
                await conn.execute(
                    text(
                        "INSERT INTO tickets (id, conversation_id, status, reason, question, "
                        "external_ref, created_at) VALUES (:id, 1, 'waiting', 'asked', '', "
                        ":ref, :now)"
                    ),
                    {"id": ticket, "ref": ref, "now": NOW},
                )
            await conn.execute(
                text(
                    "INSERT INTO bitrix_chats (chat_id, dialog_id, bot_id, session_id, "
                    "handed_session, ticket_id, updated_at) VALUES "
                    "(77, 'chat77', 5, '900', '900', 1, :now), "
                    "(78, 'chat78', 5, '5', '5', 2, :now), (79, 'chat79', 5, '6', NULL, NULL, :now)"
                ),
                {"now": NOW},
            )
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            refs = (await conn.execute(text("SELECT id, external_ref FROM tickets"))).all()
        assert sorted(tuple(r) for r in refs) == [
            (1, "bitrix24:chat77:session900"),  # given the ref the hand-off would have written
            (2, "bitrix24:chat78:session5"),
        ]
        await migrate.downgrade(engine, "0010")
        async with engine.connect() as conn:
            chats = (await conn.execute(text("SELECT chat_id, ticket_id FROM bitrix_chats"))).all()
        assert sorted(tuple(r) for r in chats) == [(77, 1), (78, 2), (79, None)]
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def test_a_conversations_tickets_and_messages_are_kept_when_its_updated_at_goes(
    db_url: str,
) -> None:
    # Batch mode would copy the table and drop the old one: with foreign keys on, SQLite
    # deletes its rows first, and ON DELETE CASCADE their tickets and messages.
    engine = create_engine(db_url)
    try:
        await migrate.downgrade(engine, "0011")
        async with engine.begin() as conn:
            for statement in (
                "INSERT INTO contacts (id, channel, external_id, display_name, language, "
                "created_at) VALUES (1, 'telegram', '31', '', '', :now)",
                "INSERT INTO conversations (id, channel, external_id, contact_id, lang, "
                "created_at, updated_at) VALUES (1, 'telegram', '31', 1, 'ru', :now, :later)",
                "INSERT INTO tickets (id, conversation_id, status, reason, question, created_at) "
                "VALUES (1, 1, 'waiting', 'asked', '', :now)",
                "INSERT INTO messages (id, conversation_id, author, text, ticket_id, attempt, "
                "created_at) VALUES (1, 1, 'person', 'hi', 1, 0, :now)",
            ):
                await conn.execute(text(statement), {"now": NOW, "later": NOW + timedelta(1)})
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            assert await _kept(conn) == [1, 1, 1]
            columns = {c["name"] for c in await conn.run_sync(_columns, "conversations")}
        assert "updated_at" not in columns
        await migrate.downgrade(engine, "0011")
        async with engine.connect() as conn:
            back = (await conn.execute(text("SELECT updated_at FROM conversations"))).scalar_one()
            assert await _kept(conn) == [1, 1, 1]
        assert str(back)[:10] == str(NOW)[:10]  # the conversation's created_at
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def test_conversations_with_a_ticket_open_are_marked_so_by_the_migration(
    db_url: str,
) -> None:
    engine = create_engine(db_url)
    try:
        await migrate.downgrade(engine, "0012")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO contacts (id, channel, external_id, display_name, language, "
                    "created_at) VALUES (1, 't', '31', '', '', :now)"
                ),
                {"now": NOW},
            )
            for conv, status in ((1, "waiting"), (2, "taken"), (3, "closed"), (4, None)):
                await conn.execute(
                    text(
                        "INSERT INTO conversations (id, channel, external_id, contact_id, lang, "
                        "created_at) VALUES (:id, 't', :ext, 1, 'ru', :now)"
                    ),
                    {"id": conv, "ext": f"c{conv}", "now": NOW},
                )
                if status is not None:
                    await conn.execute(
                        text(
                            "INSERT INTO tickets (conversation_id, status, reason, question, "
                            "created_at) VALUES (:id, :status, 'asked', '', :now)"
                        ),
                        {"id": conv, "status": status, "now": NOW},
                    )
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            marked = await conn.execute(text("SELECT id, ticket_open FROM conversations"))
            assert sorted((i, bool(o)) for i, o in marked) == [
                (1, True), (2, True), (3, False), (4, False),
            ]  # fmt: skip
        await migrate.downgrade(engine, "0012")
        async with engine.connect() as conn:
            assert await _kept(conn) == [4, 3, 0]
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def test_a_turn_reads_the_open_ticket_while_the_conversation_says_one_may_be_open(
    sessions: async_sessionmaker[AsyncSession], db: AsyncEngine
) -> None:
    async def turn() -> tuple[repo.TurnRows, list[str]]:
        with counting(db.sync_engine) as counted:
            async with sessions.begin() as session:
                rows = await repo.begin_turn(
                    session, "t", "c7", "7", display_name="", language="", lang="ru", now=NOW
                )
        return rows, counted.starting("SELECT tickets")

    await _conversation_id(sessions)
    rows, looked = await turn()
    assert rows.ticket is None and not rows.conversation.ticket_open and not looked
    async with sessions.begin() as session:
        ticket = await tickets.create_ticket(
            session, rows.conversation.id, reason="asked", question="q", now=NOW
        )
    rows, looked = await turn()
    assert rows.ticket is not None and rows.ticket.id == ticket.id
    async with sessions.begin() as session:
        closed = await session.get(Ticket, ticket.id)
        assert closed is not None
        closed.status = TicketStatus.CLOSED
    rows, _ = await turn()  # finds none open, and clears the flag
    assert rows.ticket is None
    rows, looked = await turn()
    assert rows.ticket is None and not rows.conversation.ticket_open and not looked


def _columns(conn: Connection, table: str) -> list[dict[str, object]]:
    return list(inspect(conn).get_columns(table))  # type: ignore[arg-type]


async def _kept(conn: AsyncConnection) -> list[int]:
    return [
        (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
        for table in ("conversations", "tickets", "messages")
    ]
