"""Reports for knowledge-base editors and managers: question gaps and conversation statistics."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from rapidfuzz import fuzz
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.models import Author, Feedback, Message, Ticket
from knowledge.base import KnowledgeBase
from knowledge.model import Action

_Q = TypeVar("_Q", bound=Select[Any])
# A chat command (`/operator`, `/start@helpbot`): what a person asks with it is no question, even
# when it is the first message of their ticket.
_COMMAND = re.compile(r"/[a-z0-9_]{1,32}(?:@\w+)?")


@dataclass(slots=True)
class Gap:
    """Similar questions the bot could not settle, with the entry that came closest."""

    example: str
    count: int = 0
    questions: list[str] = field(default_factory=list)  # distinct wordings, first few
    reasons: Counter[str] = field(default_factory=Counter)  # escalated / not_helped / ticket
    closest_id: str = ""
    closest_title: str = ""
    closest_score: float = 0.0
    question_ids: list[int] = field(default_factory=list)  # every question of the group


@dataclass(frozen=True, slots=True)
class Stats:
    since: datetime | None
    until: datetime | None
    messages: dict[str, int]  # by author
    decisions: dict[str, int]  # by knowledge action
    questions: int  # questions the bot decided on, and the questions of tickets
    resolved: int  # answered, with no «Не помогло» and no ticket
    tickets: int
    helpful: int
    not_helpful: int
    ratings: tuple[int, ...]
    median_wait: timedelta | None
    median_first_response: timedelta | None
    handed: int = 0  # questions that ended with a ticket

    @property
    def resolution_rate(self) -> float | None:
        """Share of the questions the bot settled alone (Chatwoot's resolution rate)."""
        return self.resolved / self.questions if self.questions else None

    @property
    def handoff_rate(self) -> float | None:
        """Share of the questions handed to operators; with :attr:`resolution_rate` it never
        sums above 1: a handed question is never counted resolved, both share one base."""
        return self.handed / self.questions if self.questions else None

    @property
    def helpful_ratio(self) -> float | None:
        total = self.helpful + self.not_helpful
        return self.helpful / total if total else None


def _between(query: _Q, since: datetime | None, until: datetime | None) -> _Q:
    if since is not None:
        query = query.where(Message.created_at >= since)
    if until is not None:
        query = query.where(Message.created_at < until)
    return query


async def gaps(
    sessions: async_sessionmaker[AsyncSession],
    kb: KnowledgeBase | None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    threshold: float = 75.0,
    wordings: int = 5,
) -> list[Gap]:
    """Escalated and «не помогло» questions grouped by similarity, largest group first."""
    async with sessions() as session:
        reasons = await _unsettled_questions(session, since, until)
        texts = {
            m.id: m.text
            for m in await session.scalars(select(Message).where(Message.id.in_(list(reasons))))
        }
    groups: list[Gap] = []
    keys: list[str] = []
    for question_id in sorted(texts):
        text = texts[question_id]
        key = " ".join(text.casefold().split())
        if not key or _COMMAND.fullmatch(key):
            continue
        scores = [fuzz.token_set_ratio(key, k) for k in keys]
        best = max(range(len(scores)), key=scores.__getitem__, default=-1)
        if best < 0 or scores[best] < threshold:
            groups.append(Gap(example=text))
            keys.append(key)
            best = len(groups) - 1
        gap = groups[best]
        gap.count += 1
        gap.question_ids.append(question_id)
        gap.reasons.update(reasons[question_id])
        if text not in gap.questions and len(gap.questions) < wordings:
            gap.questions.append(text)
    if kb is not None:
        for gap in groups:
            matches = kb.decide(gap.example[:1000]).matches
            if matches:
                gap.closest_id, gap.closest_title = matches[0].entry.id, matches[0].entry.title
                gap.closest_score = matches[0].score
    return sorted(groups, key=lambda g: (-g.count, g.example))


async def _unsettled_questions(
    session: AsyncSession, since: datetime | None, until: datetime | None
) -> dict[int, set[str]]:
    """Question message id → why it counts: escalated, not_helped, ticket."""
    reasons: dict[int, set[str]] = {}
    escalated = _between(
        select(Message).where(Message.decision == Action.ESCALATE.value), since, until
    )
    for message in await session.scalars(escalated):
        if message.question_id is not None:
            reasons.setdefault(message.question_id, set()).add("escalated")
    unhelpful = _between(
        select(Message)
        .join(Feedback, Feedback.message_id == Message.id)
        .where(Feedback.helpful.is_(False)),
        since,
        until,
    )
    for message in await session.scalars(unhelpful):
        if message.question_id is not None:
            reasons.setdefault(message.question_id, set()).add("not_helped")
    tagged = _between(
        select(Message).where(Message.author == Author.PERSON, Message.ticket_id.is_not(None)),
        since,
        until,
    ).order_by(Message.id)
    first_per_ticket: dict[int, int] = {}
    for message in await session.scalars(tagged):
        if message.text and message.ticket_id is not None:
            first_per_ticket.setdefault(message.ticket_id, message.id)
    for message_id in first_per_ticket.values():
        reasons.setdefault(message_id, set()).add("ticket")
    return reasons


async def stats(
    sessions: async_sessionmaker[AsyncSession],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Stats:
    """Messages, decisions, resolution and handoff rates, feedback, ratings and queue times."""
    async with sessions() as session:
        messages = list(await session.scalars(_between(select(Message), since, until)))
        ticket_query = select(Ticket)
        if since is not None:
            ticket_query = ticket_query.where(Ticket.created_at >= since)
        if until is not None:
            ticket_query = ticket_query.where(Ticket.created_at < until)
        tickets = list(await session.scalars(ticket_query))
        feedback_query = select(Feedback)
        if since is not None:
            feedback_query = feedback_query.where(Feedback.created_at >= since)
        if until is not None:
            feedback_query = feedback_query.where(Feedback.created_at < until)
        feedback = list(await session.scalars(feedback_query))
    actions = {a.value for a in Action}
    by_question: dict[int, set[str]] = {}
    for m in messages:
        if m.author == Author.BOT and m.decision in actions and m.question_id is not None:
            by_question.setdefault(m.question_id, set()).add(m.decision)
    unhelpful_answers = {f.message_id for f in feedback if not f.helpful}
    unsettled = {
        m.question_id for m in messages if m.id in unhelpful_answers and m.question_id is not None
    }
    escalated = {m.id for m in messages if m.author == Author.PERSON and m.ticket_id is not None}
    first_of_ticket: dict[int, int] = {}
    for m in sorted(messages, key=lambda m: m.id):
        if m.author == Author.PERSON and m.ticket_id is not None:  # retention may blank the text
            first_of_ticket.setdefault(m.ticket_id, m.id)
    handed = set(first_of_ticket.values())
    resolved = sum(
        1
        for qid, kinds in by_question.items()
        if Action.ANSWER.value in kinds
        and Action.ESCALATE.value not in kinds
        and qid not in unsettled
        and qid not in escalated
    )
    waits = [t.taken_at - t.created_at for t in tickets if t.taken_at is not None]
    firsts = [t.first_reply_at - t.created_at for t in tickets if t.first_reply_at is not None]
    return Stats(
        since=since,
        until=until,
        messages=dict(Counter(m.author for m in messages)),
        decisions=dict(
            Counter(
                m.decision for m in messages if m.author == Author.BOT and m.decision in actions
            )
        ),
        questions=len(set(by_question) | handed),
        resolved=resolved,
        handed=len(handed),
        tickets=len(tickets),
        helpful=sum(f.helpful for f in feedback),
        not_helpful=sum(not f.helpful for f in feedback),
        ratings=tuple(t.rating for t in tickets if t.rating is not None),
        median_wait=_median(waits),
        median_first_response=_median(firsts),
    )


def _median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))
