"""Reports: gaps group unsettled questions by similarity; stats count rates and times."""

from __future__ import annotations

from datetime import timedelta

import pytest
from engine_fixtures import DEAL, NONSENSE, TASK, Rig, buttons, knowledge, rig
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import reports
from bot.texts import PHRASES


@pytest.fixture
def db_url(sqlite_db_url: str) -> str:
    return sqlite_db_url


@pytest.fixture
def bot(sessions: async_sessionmaker[AsyncSession], clock: object) -> Rig:
    return rig(sessions, clock)  # type: ignore[arg-type]


NOT_HELPED = PHRASES["btn_not_helped"]["ru"]
HELPED = PHRASES["btn_helped"]["ru"]


async def test_gaps_group_similar_unsettled_questions(bot: Rig) -> None:
    await bot.say(NONSENSE, person="1")
    await bot.say(NONSENSE + "?", person="2")
    await bot.say("квантовая хромодинамика и глюоны", person="3")
    answer = await bot.say(DEAL, person="4")
    await bot.say(payload=buttons(answer)[NOT_HELPED], person="4")
    helped = await bot.say(TASK, person="5")
    await bot.say(payload=buttons(helped)[HELPED], person="5")
    found = await reports.gaps(bot.sessions, knowledge())
    assert [(g.count, dict(g.reasons)) for g in found] == [
        (3, {"escalated": 3}),
        (1, {"not_helped": 1}),
    ]
    assert found[1].closest_title == DEAL and 0 < found[1].closest_score <= 1
    assert TASK not in {q for g in found for q in g.questions}


async def test_gaps_leave_out_a_command_that_opened_a_ticket(bot: Rig) -> None:
    # `/operator` as a person's first message opened a ticket whose first message it is; it was
    # listed as a question the knowledge base could not answer.
    await bot.say("/operator", person="1")
    await bot.say("/help", person="2")  # a command no adapter caught: escalated, not a gap
    await bot.say(NONSENSE, person="3")
    found = await reports.gaps(bot.sessions, knowledge())
    assert [(g.example, dict(g.reasons)) for g in found] == [(NONSENSE, {"escalated": 1})]
    assert [t.question for t in await bot.queue.list_tickets()] == ["/operator"]  # it did


async def test_stats_rates_feedback_and_queue_times(bot: Rig, clock: object) -> None:
    helped = await bot.say(DEAL, person="1")
    await bot.say(payload=buttons(helped)[HELPED], person="1")
    unhelpful = await bot.say(DEAL, person="2")
    await bot.say(payload=buttons(unhelpful)[NOT_HELPED], person="2")
    await bot.say(NONSENSE, person="3")
    await bot.say("позовите оператора", person="3")
    clock.advance(minutes=6)  # type: ignore[attr-defined]
    await bot.queue.take(1, "anna")
    await bot.queue.reply(1, "anna", "ok")
    result = await reports.stats(bot.sessions)
    assert result.questions == 3 and result.resolved == 1 and result.tickets == 1
    assert result.resolution_rate == pytest.approx(1 / 3)
    assert result.handoff_rate == pytest.approx(1 / 3)
    assert result.helpful_ratio == 0.5
    assert result.decisions == {"answer": 2, "escalate": 1, "clarify": 1}
    assert result.median_wait == result.median_first_response == timedelta(minutes=6)
    assert result.messages["operator"] == 1


async def test_stats_period_excludes_other_days(bot: Rig, clock: object) -> None:
    await bot.say(DEAL)
    start = clock.now() + timedelta(days=1)  # type: ignore[attr-defined]
    empty = await reports.stats(bot.sessions, since=start)
    assert empty.questions == 0 and empty.resolution_rate is None and empty.messages == {}
