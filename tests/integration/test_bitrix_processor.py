"""The Bitrix24 event processor behind the one inbox worker, on a real SQLite database, driven
pass by pass.

The processor and its inbox worker are built as the channel builds them but the loop is not
started: each test stores events in the inbox and calls ``drain`` itself. Failures are
injected only at the outside world's edge (the database driver).
"""

from __future__ import annotations

from conftest import FakeClock, failing_once
from sqlalchemy import select

from bot.app import Services, open_services
from bot.delivery.inbox import IDLE, RETRY_SECONDS, InboxWorker
from bot.settings import DatabaseSettings, Settings
from bot.storage import bitrix as repo
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage
from handlers.bitrix24.events import ChatEvent
from handlers.bitrix24.processor import EventProcessor
from knowledge.base import KnowledgeBase

QUESTION = "Как восстановить пароль от Битрикс24"
OTHER_QUESTION = "Как изменить логин и пароль"  # answered outright, not offered as a choice
CHAT_ID = 77


def _message(key: str, text: str) -> ChatEvent:
    return ChatEvent(
        kind="message",
        key=key,
        bot_id=5,
        chat_id=CHAT_ID,
        dialog_id=f"chat{CHAT_ID}",
        entity_type="LINES",
        session_id="900",
        user_id="31",
        user_name="Ann",
        from_customer=True,
        text=text,
    )


def _worker(services: Services) -> InboxWorker:
    processor = EventProcessor(
        sessions=services.sessions,
        engine=services.engine,
        queue=services.queue,
        clock=services.clock,
        settings=services.settings.bitrix,
        language=services.settings.conversation.language,
        on_queued=lambda: None,
    )
    return InboxWorker(
        repo.CHANNEL, services.sessions, services.clock, processor.handle, replica="replica-a"
    )


async def _inbox(services: Services) -> list[InboxUpdate]:
    async with services.sessions() as session:
        return list(await session.scalars(select(InboxUpdate).order_by(InboxUpdate.id)))


async def _outbox(services: Services) -> list[OutboxMessage]:
    async with services.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_a_failed_event_is_retried_after_a_pause_and_holds_its_chats_later_events(
    sqlite_db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database=DatabaseSettings(url=sqlite_db_url),
    )
    async with open_services(settings, kb=kb, clock=clock) as services:
        worker = _worker(services)
        async with services.sessions.begin() as session:
            for key, text in (("m1", QUESTION), ("m2", OTHER_QUESTION)):
                await repo.add_inbound(session, key, _message(key, text).to_json(), clock.now())

        with failing_once(services.db, "INSERT INTO outbox") as failed:
            delay = await worker.drain()
        assert failed and 0 < delay <= RETRY_SECONDS  # nothing handled: the loop pauses
        first, second = await _inbox(services)
        assert (first.status, first.attempts) == (DeliveryStatus.PENDING, 1)
        assert (second.status, second.attempts) == (DeliveryStatus.PENDING, 0)
        assert second.processed_at is None  # the chat's later event waited for the failed one
        assert await _outbox(services) == []

        assert 0 < await worker.drain() <= RETRY_SECONDS  # not due: no back-to-back attempt
        assert [row.attempts for row in await _inbox(services)] == [1, 0]

        clock.advance(seconds=RETRY_SECONDS)
        assert await worker.drain() == 0.0  # both handled: look again at once
        assert await worker.drain() == IDLE
        first, second = await _inbox(services)
        assert (first.status, first.attempts) == (DeliveryStatus.DONE, 1)
        assert second.status == DeliveryStatus.DONE
        assert first.processed_at is not None and second.processed_at is not None
        sent = await _outbox(services)
        titles = [row.params["fields"]["message"].split("\n")[0] for row in sent]
        assert titles == [  # the retried first event answered before the chat's second one
            "[b]Как восстановить пароль от Битрикс24[/b]",
            "[b]Как изменить логин и пароль для входа в Битрикс24[/b]",
        ]
