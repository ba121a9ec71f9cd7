"""End to end: an answer the outbox gives up for good still reaches an operator.

The real app against the fake Telegram, which refuses ``sendMessage`` with a 400 (a refusal
no retry cures). The bot's answer to the person is given up (``Failed``) and, in the
transaction that records the give-up, handed to the operators: one ticket, its card saying the
answer did not reach the person and why. The hand-off's own rows (the card, notices) are not
answers to a person: their give-up hands nothing over again.
"""

from __future__ import annotations

from deadline import until
from serving import count_rows
from sqlalchemy import select
from test_telegram import QUESTION, World, running

from bot.delivery.outcome import ANSWER
from bot.storage.models import DeliveryStatus, OutboxMessage, Ticket
from knowledge.base import KnowledgeBase

REFUSAL = "Bad Request: can't parse entities"
UNDELIVERED_LINE = "Ответ бота не дошёл до человека"


async def _tickets(w: World) -> list[Ticket]:
    async with w.services.sessions() as session:
        return list((await session.scalars(select(Ticket))).all())


async def _settled(w: World) -> bool:
    return await count_rows(w.services, OutboxMessage, status=DeliveryStatus.PENDING) == 0


async def _answers(w: World) -> list[OutboxMessage]:
    async with w.services.sessions() as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == ANSWER))
        return list(rows.all())


async def test_an_answer_refused_for_good_opens_one_ticket_for_the_operators(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        w.fake.force_error(None, 400, method="sendMessage", description=REFUSAL, chat=ann)
        w.fake.user_sends(ann, QUESTION)
        topic = (await w.fake.wait_for(lambda: w.fake.topics(w.group)))[0]
        card = await w.said(w.group, UNDELIVERED_LINE, thread_id=topic.thread_id)
        assert "(Bad Request" in (card.text or "")  # the refusal, cut to the ticket's reason
        await until(lambda: _settled(w), "every row settled", 10, wake=w.fake.changed)

        (ticket,) = await _tickets(w)
        assert ticket.status == "waiting" and ticket.reason.startswith("undelivered:")
        assert ticket.question == QUESTION
        answers = await _answers(w)
        assert answers and all(row.status == DeliveryStatus.FAILED for row in answers)
        assert all(row.attempts == 1 for row in answers)  # a 400 is not retried
        assert w.fake.bot_messages(ann) == []
        cards = [
            m
            for m in w.fake.bot_messages(w.group, thread_id=topic.thread_id)
            if UNDELIVERED_LINE in (m.text or "")
        ]
        assert len(cards) >= 1 and len(w.fake.topics(w.group)) == 1

        # The next message joins the open ticket; its refused acknowledgement is one more line
        # there, never a second ticket or topic.
        w.fake.user_sends(ann, "есть новости?")
        await w.said(w.group, "есть новости?", thread_id=topic.thread_id)
        await until(lambda: _settled(w), "every row settled", 10, wake=w.fake.changed)
        assert len(await _tickets(w)) == 1 and len(w.fake.topics(w.group)) == 1


async def test_the_hand_offs_own_rows_given_up_hand_nothing_over_again(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        w.fake.force_error(None, 400, method="sendMessage", description=REFUSAL)  # every chat
        w.fake.user_sends(ann, QUESTION)
        await until(lambda: _tickets(w), "a ticket opened", 10, wake=w.fake.changed)
        await until(lambda: _settled(w), "every row settled", 10, wake=w.fake.changed)
        (ticket,) = await _tickets(w)
        assert ticket.reason.startswith("undelivered:")
        async with w.services.sessions() as session:
            rows = list((await session.scalars(select(OutboxMessage))).all())
        given_up = [row for row in rows if row.status == DeliveryStatus.FAILED]
        assert given_up and all(row.status != DeliveryStatus.PENDING for row in rows)
        assert any(row.to_topic and row.kind != ANSWER for row in given_up)  # the card, refused
        assert len(await _tickets(w)) == 1
        assert w.fake.bot_messages(ann) == [] and w.fake.bot_messages(w.group) == []
