"""Learning from use, with a person in the loop: (question → entry) pairs that conversations
proved, grouped into suggested new phrasings of entries for someone to approve or reject.

A pair is proved when a person picks an entry from «Возможно, вы имели в виду…» (or from the
next-best entries after «Не помогло») and does not then press «Не помогло»; «Помогло» after the
pick confirms it. Nothing is applied on its own: an approved phrasing (``helpbot kb approve``)
becomes an extra question of the entry at the next reload (``bot.storage.knowledge``), a
rejected one is not suggested again.

Operators' resolutions count too: a ticket closed after an operator sent an entry's card
(:func:`bot.pairings.resolved_pairings`) pairs the ticket's question with that entry, shown
beside the picks (``how`` :data:`OPERATOR`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.pairings import resolved_pairings
from bot.storage import knowledge as rows
from bot.storage.models import Author, Feedback, Message
from knowledge.base import KnowledgeBase
from knowledge.model import Action

PICK = "pick"  # a «did you mean» choice
OPERATOR = "operator"  # an operator's resolution of a ticket with the entry


@dataclass(frozen=True, slots=True)
class Pair:
    """A question a person asked and the entry that answered it, by ``how`` it was shown."""

    question: str
    entry_id: str
    at: datetime
    how: str = PICK
    confirmed: bool = False  # «Помогло» followed


@dataclass(slots=True)
class Variant:
    """One phrasing (questions equal but for case and spacing), how often and when;
    ``resolved`` of the ``count`` are operators' resolutions, the rest people's picks."""

    text: str
    count: int
    confirmed: int
    first: datetime
    last: datetime
    resolved: int = 0


@dataclass(slots=True)
class Suggestion:
    """New phrasings for one entry, most asked first."""

    entry_id: str
    title: str
    variants: list[Variant] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(v.count for v in self.variants)


async def proved_pairs(
    session: AsyncSession, since: datetime | None = None, until: datetime | None = None
) -> list[Pair]:
    """Every pick of a «did you mean» choice in the conversation records, without the ones
    followed by «Не помогло»."""
    clarify = aliased(Message)
    question = aliased(Message)
    query = (
        select(Message, question.text, clarify.options, Feedback.helpful)
        .join(question, question.id == Message.question_id)
        .join(
            clarify,
            (clarify.question_id == Message.question_id)
            & (clarify.decision == Action.CLARIFY.value)
            & (clarify.id < Message.id),
        )
        .outerjoin(Feedback, Feedback.message_id == Message.id)
        .where(
            Message.author == Author.BOT,
            Message.decision == Action.ANSWER.value,
            Message.entry_id.is_not(None),
            question.author == Author.PERSON,
        )
        .order_by(Message.id)
    )
    if since is not None:
        query = query.where(Message.created_at >= since)
    if until is not None:
        query = query.where(Message.created_at < until)
    pairs: dict[int, Pair] = {}
    for answer, text, options, helpful in await session.execute(query):
        if answer.id in pairs or helpful is False or answer.entry_id not in (options or []):
            continue
        if text.strip():
            pairs[answer.id] = Pair(
                text, answer.entry_id, answer.created_at, confirmed=helpful is True
            )
    return list(pairs.values())


def suggest(
    pairs: Iterable[Pair],
    kb: KnowledgeBase,
    decided: dict[tuple[str, str], str] | None = None,
    *,
    min_count: int = 1,
) -> list[Suggestion]:
    """Group ``pairs`` into suggestions per entry: phrasings a person has not decided on yet,
    of entries still in ``kb``, that ``kb`` does not already answer with that entry, asked at
    least ``min_count`` times. Entries with the most asks first."""
    decided = decided or {}
    variants: dict[tuple[str, str], Variant] = {}
    for pair in pairs:
        key = rows.phrasing_key(pair.question)
        if not key or (pair.entry_id, key) in decided or kb.get(pair.entry_id) is None:
            continue
        found = variants.get((pair.entry_id, key))
        if found is None:
            text = " ".join(pair.question.split())
            found = variants[(pair.entry_id, key)] = Variant(text, 0, 0, pair.at, pair.at)
        found.count += 1
        found.confirmed += pair.confirmed
        found.resolved += pair.how == OPERATOR
        found.first, found.last = min(found.first, pair.at), max(found.last, pair.at)
    out: dict[str, Suggestion] = {}
    for (entry_id, _), variant in variants.items():
        if variant.count < min_count or _answered(kb, variant.text, entry_id):
            continue
        entry = kb.get(entry_id)
        assert entry is not None
        out.setdefault(entry_id, Suggestion(entry_id, entry.title)).variants.append(variant)
    for suggestion in out.values():
        suggestion.variants.sort(key=lambda v: (-v.count, -v.confirmed, v.text))
    return sorted(out.values(), key=lambda s: (-s.count, s.entry_id))


def _answered(kb: KnowledgeBase, question: str, entry_id: str) -> bool:
    """The base already answers the question with the entry: nothing to learn."""
    decision = kb.decide(question)
    answer = decision.answer
    return decision.action is Action.ANSWER and answer is not None and answer.entry.id == entry_id


async def suggestions(
    sessions: async_sessionmaker[AsyncSession],
    kb: KnowledgeBase,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    min_count: int = 1,
) -> list[Suggestion]:
    """The suggestions from the conversation records and the operators' resolutions (see
    :func:`suggest`)."""
    async with sessions() as session:
        pairs = await proved_pairs(session, since, until)
        decided = await rows.verdicts(session)
    resolved = [
        Pair(p.question, p.entry_id, p.created_at, how=OPERATOR)
        for p in await resolved_pairings(sessions, since=since)
        if p.question.strip() and (until is None or p.created_at < until)
    ]
    return suggest([*pairs, *resolved], kb, decided, min_count=min_count)
