"""Learning from use: «did you mean» picks become suggested phrasings, which a person approves
(then they are matched as questions of the entry) or rejects (then they are not suggested)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from engine_fixtures import ENTRIES, Rig, buttons, knowledge, rig
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import learning
from bot.storage import knowledge as rows
from bot.storage.models import PhrasingStatus
from bot.texts import PHRASES
from knowledge.base import KnowledgeBase
from knowledge.loader import load_corpus
from knowledge.model import Action

VAGUE = "что со сделками в crm"  # the small base asks «did you mean» for it
DELETE = ENTRIES[1]


@pytest.fixture
def db_url(sqlite_db_url: str) -> str:
    return sqlite_db_url


@pytest.fixture
def bot(sessions: async_sessionmaker[AsyncSession], clock: object) -> Rig:
    return rig(sessions, clock)  # type: ignore[arg-type]


async def _pick(bot: Rig, person: str, question: str, then: str = "") -> None:
    offered = await bot.say(question, person=person)
    picked = await bot.say(payload=buttons(offered)[DELETE.title], person=person)
    if then:
        await bot.say(payload=buttons(picked)[PHRASES[then]["ru"]], person=person)


async def test_picks_become_suggestions_grouped_with_counts(bot: Rig) -> None:
    assert knowledge().decide(VAGUE).action is Action.CLARIFY
    await _pick(bot, "1", VAGUE, then="btn_helped")
    # The same phrasing, spaced and cased apart; then a pick that did not help: no pair.
    await _pick(bot, "2", "  Что   со сделками  в CRM ")
    await _pick(bot, "3", "сделки в crm", then="btn_not_helped")
    await bot.say(ENTRIES[3].title, person="4")  # answered outright: nothing to learn

    found = await learning.suggestions(bot.sessions, knowledge())

    assert [(s.entry_id, s.count) for s in found] == [(DELETE.id, 2)]
    (variant,) = found[0].variants
    assert (variant.text, variant.count, variant.confirmed) == (VAGUE, 2, 1)
    assert variant.first <= variant.last
    assert await learning.suggestions(bot.sessions, knowledge(), min_count=3) == []


async def test_a_decided_phrasing_is_not_suggested_again(bot: Rig) -> None:
    await _pick(bot, "1", VAGUE)
    now = datetime.now(UTC)
    async with bot.sessions.begin() as session:
        await rows.decide_phrasing(
            session, DELETE.id, VAGUE.upper(), PhrasingStatus.REJECTED, "test", now
        )
    assert await learning.suggestions(bot.sessions, knowledge()) == []
    async with bot.sessions.begin() as session:  # a later verdict replaces the earlier one
        await rows.decide_phrasing(session, DELETE.id, VAGUE, PhrasingStatus.APPROVED, "t", now)
    async with bot.sessions() as session:
        assert await rows.approved_phrasings(session) == {DELETE.id: [VAGUE]}


def test_approved_phrasings_are_matched_as_questions_of_the_entry(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "zebra.md").write_text(
        "---\ntitle: Уход за зеброй в офисе\n---\nЗебру кормят сеном дважды в день.\n",
        encoding="utf-8",
    )
    asked = "чем питается полосатая лошадка"
    before = load_corpus(folder)
    (entry,) = [e for e in before.entries if e.source == "zebra.md"]
    kb = KnowledgeBase.from_corpus(before)
    decision = kb.decide(asked)
    assert decision.answer is None or decision.answer.entry.id != entry.id

    after = load_corpus(folder, phrasings={entry.id: [asked, "", "unknown"], "gone": ["x"]})
    learned = next(e for e in after.entries if e.id == entry.id)
    assert learned.questions == (asked, "unknown")
    decision = KnowledgeBase.from_corpus(after).decide(asked)
    assert decision.action is Action.ANSWER and decision.answer is not None
    assert decision.answer.entry.id == entry.id


async def _resolve(bot: Rig, person: str, question: str, ticket: int, close: bool = True) -> None:
    await bot.say(question, person=person)
    await bot.say("позовите оператора", person=person)
    await bot.queue.take(ticket, "anna")
    await bot.queue.send_entry(ticket, "anna", DELETE.id)
    if close:
        await bot.queue.close(ticket, "anna")


async def test_operators_resolutions_are_suggested_beside_the_picks(bot: Rig) -> None:
    await _pick(bot, "1", VAGUE)
    await _resolve(bot, "2", VAGUE, ticket=1)  # the same phrasing, settled by an operator
    await _resolve(bot, "3", "сделки в crm", ticket=2)  # only an operator paired this one
    await _resolve(bot, "4", "что там со сделками в crm", ticket=3, close=False)  # unresolved

    found = await learning.suggestions(bot.sessions, knowledge())

    assert [(s.entry_id, s.count) for s in found] == [(DELETE.id, 3)]
    got = [(v.text, v.count, v.confirmed, v.resolved) for v in found[0].variants]
    assert got == [(VAGUE, 2, 0, 1), ("сделки в crm", 1, 0, 1)]
