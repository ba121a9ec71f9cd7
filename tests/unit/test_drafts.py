"""Gap drafts: a group of unanswered questions that an operator answered becomes a Markdown
draft that the company-articles loader accepts as it is; other groups make none."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_fixtures import NONSENSE, Rig, knowledge, rig
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import drafts, reports
from knowledge.loader import load_company_articles, load_noise_rules

REPLY = 'Глюоны — это физика, а не Битрикс24: напишите нам "на почту" help@example.com.'


@pytest.fixture
def db_url(sqlite_db_url: str) -> str:
    return sqlite_db_url


@pytest.fixture
def bot(sessions: async_sessionmaker[AsyncSession], clock: object) -> Rig:
    return rig(sessions, clock)  # type: ignore[arg-type]


async def test_answered_gaps_become_drafts_the_loader_accepts(bot: Rig, tmp_path: Path) -> None:
    await bot.say(NONSENSE, person="1")
    await bot.say("позовите оператора", person="1")
    await bot.queue.take(1, "anna")
    await bot.queue.reply(1, "anna", REPLY)
    await bot.say(NONSENSE + "?", person="2")  # the same gap, no operator yet
    await bot.say("зеленые марсиане летят на луну", person="3")  # a gap nobody answered

    found = await reports.gaps(bot.sessions, knowledge())
    async with bot.sessions() as session:
        replies = await drafts.operator_replies(session, [q for g in found for q in g.question_ids])
    made = [d for g in found if (d := drafts.draft_for(g, replies)) is not None]

    assert len(found) == 2 and len(made) == 1
    assert (made[0].questions, made[0].replies) == (2, 1)
    written, kept = drafts.write_drafts(made, tmp_path / "drafts")
    assert len(written) == 1 and kept == []
    entries, errors = load_company_articles(tmp_path / "drafts", load_noise_rules())
    assert errors == []
    (entry,) = entries
    assert entry.title == NONSENSE and set(entry.questions) == {NONSENSE, NONSENSE + "?"}
    assert "help@example.com" in entry.body

    written[0].write_text(written[0].read_text(encoding="utf-8") + "edited", encoding="utf-8")
    again, kept = drafts.write_drafts(made, tmp_path / "drafts")
    assert again == [] and kept == written  # an editor's work is never overwritten
    assert written[0].read_text(encoding="utf-8").endswith("edited")
