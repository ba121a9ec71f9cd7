"""End to end, the one delivery policy through platform outages (issue 12): the real app as
`helpbot serve` composes it against the fake Telegram, on a clock a test may scale.

An outage longer than the old give-up window (~15 s: 1+2+4+8 s) costs no reply and doubles
none; a flood reply (429) in the operators' group does not hold up the answers to people.
"""

from __future__ import annotations

import asyncio

import pytest
from bitrix24_scenes import ScaledClock
from test_telegram import QUESTION, _count, _escalate, _until, running

from bot.storage.models import DeliveryStatus, OutboxMessage
from knowledge.base import KnowledgeBase

SCALE = 10.0  # the app's clock runs ten times faster than real time
OLD_GIVE_UP = 15.0  # seconds of failures after which the old worker dropped a reply


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


async def test_a_send_message_outage_longer_than_the_old_window_loses_and_doubles_nothing(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    clock = ScaledClock(SCALE)
    async with running(sqlite_db_url, kb, clock=clock) as w:
        ann = w.fake.add_user("Ann")
        w.fake.force_error(None, 502, method="sendMessage")  # the outage begins
        began = clock.now()
        w.fake.user_sends(ann, QUESTION)
        await w.fake.wait_for_call("sendMessage", lambda c: c.chat_id == ann.id)
        await asyncio.sleep(2 * OLD_GIVE_UP / SCALE)  # 30 s of the app's time
        assert (clock.now() - began).total_seconds() > 2 * OLD_GIVE_UP
        assert await _count(w.services, OutboxMessage, status=DeliveryStatus.FAILED) == 0
        assert w.fake.bot_messages(ann) == []
        w.fake.clear_faults()  # the outage ends

        await w.said(ann, "пароль", timeout=10)

        async def drained() -> bool:
            return await _count(w.services, OutboxMessage, status=DeliveryStatus.PENDING) == 0

        await _until(w.fake, drained)
        assert len(w.fake.bot_messages(ann)) == 1
        assert len(w.fake.calls("sendMessage", chat=ann, ok=False)) >= 3  # retried meanwhile


async def test_a_flood_reply_in_the_operators_group_does_not_delay_answers_to_people(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann, bob = w.fake.add_user("Ann"), w.fake.add_user("Bob")
        thread, _card = await _escalate(w, ann)
        w.fake.force_429(None, retry_after=5, chat=w.group)  # the group is flooded
        w.fake.user_sends(ann, "Есть новости?")  # relayed to the topic: refused with 429
        await w.fake.wait_for_call("sendMessage", lambda c: c.chat_id == w.group.id and not c.ok)

        w.fake.user_sends(bob, QUESTION)
        await w.said(bob, "пароль", timeout=3)  # well inside the group's 5 s pause
        w.fake.clear_faults()
        await w.said(w.group, "Есть новости?", thread_id=thread, timeout=15)
