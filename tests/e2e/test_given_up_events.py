"""End to end: an event our own code fails on, given up by the inbox, still reaches an operator.

The real app as `helpbot serve` composes it, against the fake Telegram and the fake Bitrix24
portal. The failure is made at the database's edge, not in our code: the driver refuses every
statement that marks an inbox row done (the settle of the answer's transaction), as a
database that refused that one statement would; the give-up's own statement (it records the
attempts) goes through. Each channel hands the person's message to its operators once: the
ticket, the card saying the bot failed and the error's class (no error text), the person's
usual hand-off text, the row given up with its attempts.
"""

from __future__ import annotations

from conftest import refusing_settles
from deadline import until
from sqlalchemy import select
from test_bitrix24 import inbox_settled, open_chat, portal_and_app
from test_telegram import QUESTION, running

from bot.delivery.policy import MAX_ATTEMPTS
from bot.services import Services
from bot.storage.models import DeliveryStatus, InboxUpdate, Ticket
from knowledge.base import KnowledgeBase

FAILED_LINE = "Бот не смог обработать это сообщение (ошибка OSError)"
SECRET_TEXT = "injected: the settle is refused"  # the error's text: never shown to anyone


async def _given_up(services: Services) -> InboxUpdate | None:
    async with services.sessions() as session:
        rows = (await session.scalars(select(InboxUpdate).order_by(InboxUpdate.id))).all()
    failed = [row for row in rows if row.status == DeliveryStatus.FAILED]
    return failed[-1] if failed else None


async def _tickets(services: Services) -> list[Ticket]:
    async with services.sessions() as session:
        return list((await session.scalars(select(Ticket))).all())


async def test_telegram_a_message_our_code_fails_on_opens_a_topic_once(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann", username="ann")
        with refusing_settles(w.services.db, SECRET_TEXT) as refused:
            w.fake.user_sends(ann, QUESTION)
            await w.said(ann, "Передал ваш вопрос оператору", timeout=20)
            await until(lambda: _given_up(w.services), "the row given up", 20)
        row = await _given_up(w.services)
        assert row is not None
        # each try's settle; the hand-off's went through (another update's done-marks, as the
        # topic's service message, may be refused meanwhile: not counted)
        assert sum(row.id in tuple(p) for p in refused) == MAX_ATTEMPTS
        assert (row.attempts, row.processed_at is not None) == (MAX_ATTEMPTS, True)
        assert row.error is not None and row.error.startswith("handed over; OSError")

        topic = (await w.fake.wait_for(lambda: w.fake.topics(w.group)))[0]
        card = await w.fake.wait_for_message(
            w.group,
            lambda m: any(d.startswith("take:") for d in m.callback_data),
            thread_id=topic.thread_id,
        )
        text = card.text or ""
        assert FAILED_LINE in text and f"Вопрос: {QUESTION}" in text
        assert SECRET_TEXT not in text
        (ticket,) = await _tickets(w.services)
        assert (ticket.status, ticket.reason, ticket.question) == (
            "waiting", "failed:OSError", QUESTION
        )  # fmt: skip
        told = [m for m in w.fake.bot_messages(ann) if "Передал" in (m.text or "")]
        assert len(told) == 1 and len(w.fake.bot_messages(ann)) == 1  # no answer, one notice
        assert len(w.fake.topics(w.group)) == 1

        # The chat goes on: the next message joins the ticket, as any message while it waits.
        w.fake.user_sends(ann, "есть новости?")
        await w.said(w.group, "есть новости?", thread_id=topic.thread_id)


async def test_telegram_a_press_our_code_fails_on_is_given_up_with_nothing_to_relay(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        w.fake.user_sends(ann, QUESTION)
        answer = await w.said(ann, "пароль")
        with refusing_settles(w.services.db, SECRET_TEXT) as refused:
            w.press(ann, answer, "fb:ok")
            await until(lambda: _given_up(w.services), "the press given up", 20)
        row = await _given_up(w.services)
        assert row is not None
        assert len(refused) == MAX_ATTEMPTS
        assert row.error is not None and row.error.startswith("OSError")  # not handed over
        assert await _tickets(w.services) == []
        assert w.fake.topics(w.group) == []


async def test_bitrix24_a_message_our_code_fails_on_goes_to_the_lines_queue_once(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with portal_and_app(sqlite_db_url, kb, "webhook") as (fake, services, _):
        chat = await open_chat(fake, "Ion Guest")  # the welcome settles before the refusals
        with refusing_settles(services.db, SECRET_TEXT) as refused:
            await fake.customer_sends(chat, QUESTION)
            await fake.wait_for(lambda: fake.transfers, 20, "the hand-off to the line's queue")
            await until(lambda: inbox_settled(services), "the hand-off sent", 20)
        assert len(refused) == MAX_ATTEMPTS
        assert [(t.chat_id, t.kind) for t in fake.transfers] == [(chat.id, "operator")]
        row = await _given_up(services)
        assert row is not None and row.error is not None
        assert row.error.startswith("handed over; OSError") and row.attempts == MAX_ATTEMPTS

        (note,) = [m for m in fake.messages(chat) if m.kind == "system" and m.skip_connector]
        assert FAILED_LINE in note.text and "Ion Guest" in note.text
        assert SECRET_TEXT not in note.text
        shown = [text for text, _ in fake.customer_view(chat)]
        assert sum("Передал ваш вопрос оператору" in text for text in shown) == 1
        assert not any("пароль" in text.lower() and "[b]" in text for text in shown)
        (ticket,) = await _tickets(services)
        assert ticket.reason == "failed:OSError"
        assert ticket.external_ref == f"bitrix24:chat{chat.id}:session{chat.sessions[-1].id}"
