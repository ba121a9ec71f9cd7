"""The case card: one ticket as an operator needs to see it, built from stored data only.

:func:`load_case` reads a :class:`CaseCard` (a pure value) in the caller's transaction;
:func:`case_reply` words it as a channel-neutral :class:`~bot.replies.Reply`, which every
operator surface renders its own way: the terminal (``helpbot operator show``), the Telegram
forum topic (its first message, edited as the ticket changes) and the Bitrix24 line (a note for
the line's operators when the chat is handed over).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.deeplinks import entry_link
from bot.durations import human_duration
from bot.errors import TicketNotFoundError
from bot.payloads import Press, as_sent, decode
from bot.replies import Reply
from bot.storage import repo, tickets
from bot.storage.models import (
    Author,
    Contact,
    Conversation,
    Feedback,
    Message,
    Ticket,
    TicketStatus,
)
from bot.texts import one_line, phrase
from bot.why import describe_decision, describe_reading
from knowledge.base import KnowledgeBase
from knowledge.explain import Explanation
from knowledge.model import Action, Link

EARLIER = 5  # earlier tickets of the same person shown
CONTEXT = timedelta(minutes=30)  # the exchange just before a ticket belongs to its case
LINE_CHARS = 200  # a transcript line is cut to this many characters
_ANSWERS = (Action.ANSWER.value, Action.CLARIFY.value)
FAILED = "failed:"  # a ticket's reason when our code failed on the message: + the error's class


UNDELIVERED = "undelivered:"  # a ticket's reason when the bot's answer never reached the person


def undelivered_reason(reason: str) -> str:
    """The reason of a ticket opened because the outbox gave up an answer to the person,
    ``reason`` the platform's refusal or the failure's class (cut to Ticket.reason's length)."""
    return f"{UNDELIVERED}{reason}"[:32]


def failed_reason(error: str) -> str:
    """The reason of a ticket opened because our code failed on the message, ``error`` the
    class of what it raised (the class alone: an error's text may hold what it should not)."""
    return f"{FAILED}{error}"[:32]  # Ticket.reason's length


@dataclass(frozen=True, slots=True)
class CaseLine:
    """One line of the transcript in words a person reads (a press is «нажал «Не помогло»»)."""

    at: datetime
    author: str  # Author: person, bot, operator
    text: str
    operator: str | None = None
    pressed: bool = False  # a button press told in words, not something the person wrote


@dataclass(frozen=True, slots=True)
class Offered:
    """An entry the bot offered: its confidence, and whether the person found it helpful."""

    entry_id: str
    title: str
    confidence: float | None  # the calibrated P(right) of an outright answer, when it was one
    choice: bool  # first offered among choices («Возможно, вы имели в виду…», next-best)
    helpful: bool | None  # «Помогло» / «Не помогло», None without feedback
    link: Link | None


@dataclass(frozen=True, slots=True)
class Earlier:
    ticket_id: int
    created_at: datetime
    status: str
    question: str


@dataclass(frozen=True, slots=True)
class CaseCard:
    """A ticket's whole case; times are aware UTC, ``zone`` is where operators read them."""

    ticket_id: int
    status: str
    subject: str
    reason: str
    person: str
    channel: str
    language: str
    operator: str | None
    created_at: datetime
    taken_at: datetime | None
    now: datetime
    zone: str
    lines: tuple[CaseLine, ...]
    offered: tuple[Offered, ...]
    earlier: tuple[Earlier, ...]
    why: Explanation | None = None  # how the ticket's question is read and decided, with a base

    @property
    def waited(self) -> timedelta:
        """How long the person waited for an operator (so far, while nobody has taken it)."""
        return (self.taken_at or self.now) - self.created_at

    @property
    def unanswered(self) -> bool:
        """Whether the person wrote last: nobody has answered their last message yet."""
        spoken = [
            x
            for x in self.lines
            if x.author == Author.OPERATOR or (x.author == Author.PERSON and not x.pressed)
        ]
        return bool(spoken) and spoken[-1].author == Author.PERSON


async def load_case(
    session: AsyncSession,
    ticket_id: int,
    *,
    now: datetime,
    zone: str,
    lang: str,
    kb: KnowledgeBase | None = None,
    public_url: str = "",
    explain: bool = True,
) -> CaseCard:
    """The ticket's case card, read in the caller's transaction; ``lang`` words the presses.

    Without a knowledge base an offered entry is shown by its id and the card has no «why».
    ``explain=False`` leaves the «why» out too: the hand-off of a message our code failed on
    must not run the knowledge base's text code on that message again (what failed once may
    fail again, and the hand-off with it); entries are still looked up by id.
    """
    ticket = await session.get(Ticket, ticket_id)  # the turn's own ticket: no second SELECT
    if ticket is None:
        raise TicketNotFoundError(ticket_id)
    conversation = await session.get(Conversation, ticket.conversation_id)
    contact = await session.get(Contact, conversation.contact_id) if conversation else None
    messages = await tickets.transcript(session, ticket_id)
    messages = await _context(session, ticket, messages) + messages
    helpful = await _feedback(session, [m.id for m in messages if m.author == Author.BOT])
    lines = [await _line(session, m, lang) for m in messages]
    return CaseCard(
        ticket_id=ticket.id,
        status=ticket.status,
        subject=ticket.question,
        reason=ticket.reason,
        person=(contact.display_name or contact.external_id) if contact else "?",
        channel=conversation.channel if conversation else "?",
        language=conversation.lang if conversation else "?",
        operator=ticket.operator,
        created_at=ticket.created_at,
        taken_at=ticket.taken_at,
        now=now,
        zone=zone,
        lines=tuple(x for x in lines if x.text),
        offered=_offered(messages, helpful, kb, public_url),
        earlier=await _earlier(session, ticket, contact),
        why=(
            kb.explain(ticket.question, limit=1)
            if explain and kb is not None and ticket.question
            else None
        ),
    )


def case_reply(card: CaseCard, lang: str) -> Reply:
    """The card in words, the same blocks in every operator surface; ``lines`` keeps only the
    newest transcript lines (a channel with a size limit shortens the transcript first)."""
    return card_reply(card, lang, lines=len(card.lines))


def card_reply(card: CaseCard, lang: str, *, lines: int) -> Reply:
    tz = ZoneInfo(card.zone)
    waited = human_duration(card.waited, lang)
    if card.status == TicketStatus.WAITING:
        status = phrase("case_waiting", lang, waited=waited)
    elif card.status == TicketStatus.TAKEN:
        status = phrase("case_taken", lang, operator=card.operator or "?", waited=waited)
    else:
        status = phrase(f"case_{card.status}", lang)
    blocks = [
        phrase("case_subject", lang, subject=one_line(card.subject, 500)),
        *_failure(card.reason, lang),
        phrase(
            "case_person",
            lang,
            name=card.person,
            channel=card.channel,
            language=card.language,
            time=f"{card.now.astimezone(tz):%H:%M}",
            zone=card.zone,
        ),
    ]
    if card.offered:
        items = "\n".join(f"• {_offer(o, lang)}" for o in card.offered)
        blocks.append(phrase("case_offered", lang) + "\n" + items)
    else:
        blocks.append(phrase("case_offered_none", lang))
    if card.why is not None:
        blocks.append(_why(card.why, lang))
    shown = card.lines[-lines:] if lines > 0 else ()
    if shown:
        said = "\n".join(
            f"{x.at.astimezone(tz):%H:%M} {_who(x, lang)}: {one_line(x.text, LINE_CHARS)}"
            for x in shown
        )
        blocks.append(phrase("case_transcript", lang, zone=card.zone) + "\n" + said)
    if card.unanswered and card.status in tickets.OPEN_STATUSES:
        blocks.append(phrase("case_unanswered", lang))
    if card.earlier:
        items = "\n".join(
            "• "
            + phrase(
                "case_earlier_item",
                lang,
                ticket=e.ticket_id,
                date=f"{e.created_at.astimezone(tz):%Y-%m-%d}",
                status=phrase(f"case_status_{e.status}", lang),
                question=one_line(e.question, 100),
            )
            for e in card.earlier
        )
        blocks.append(phrase("case_earlier", lang) + "\n" + items)
    links = tuple(o.link for o in card.offered if o.link is not None)
    title = phrase("case_title", lang, ticket=card.ticket_id, status=status)
    return Reply(tuple(blocks), title=title, links=links)


def _failure(reason: str, lang: str) -> tuple[str, ...]:
    """The card's line saying the bot failed on the message, or that its answer did not
    reach the person, for a ticket opened so."""
    if reason.startswith(UNDELIVERED):
        return (phrase("case_undelivered", lang, error=reason.removeprefix(UNDELIVERED)),)
    if not reason.startswith(FAILED):
        return ()
    return (phrase("case_failed", lang, error=reason.removeprefix(FAILED)),)


def _why(why: Explanation, lang: str) -> str:
    """How the ticket's question is read (its repairs) and the decision with its rule."""
    repairs = describe_reading(why.question, lang)
    read = (
        phrase(
            "case_why_read", lang, text=one_line(why.question.read_as, LINE_CHARS), repairs=repairs
        )
        if repairs
        else phrase("case_why_as_typed", lang)
    )
    return "\n".join([phrase("case_why", lang), read, describe_decision(why.decision, lang)])


def _offer(offered: Offered, lang: str) -> str:
    said = []
    if offered.confidence is not None:
        said.append(phrase("case_confidence", lang, value=f"{offered.confidence:.2f}"))
    if offered.choice:
        said.append(phrase("case_choice", lang))
    if offered.helpful is not None:
        said.append(phrase("case_helped" if offered.helpful else "case_not_helped", lang))
    return " — ".join([offered.title, " · ".join(said)]) if said else offered.title


def _who(line: CaseLine, lang: str) -> str:
    who = phrase(f"op_who_{line.author}", lang)
    return f"{who} {line.operator}" if line.operator else who


async def _line(session: AsyncSession, message: Message, lang: str) -> CaseLine:
    if message.author == Author.PERSON and message.payload:
        said = await _press(session, message.payload, lang)
        return CaseLine(message.created_at, message.author, said, pressed=True)
    return CaseLine(message.created_at, message.author, message.text, message.operator)


async def _press(session: AsyncSession, raw: str, lang: str) -> str:
    """A button press as what the person did, with the label they saw."""
    payload = decode(raw)
    if payload is None:
        return phrase("case_pressed_unknown", lang)
    if payload.press is Press.RATE:
        return phrase("case_rated", lang, rating=payload.index)
    if payload.press is Press.CANCEL:
        return phrase("case_pressed", lang, label=phrase("btn_cancel", lang))
    pressed = await repo.get_message(session, payload.ref)
    for label, stored in (pressed.buttons or []) if pressed else []:
        if as_sent(stored, payload.ref) == raw:  # the ref is the pressed message's id
            return phrase("case_pressed", lang, label=label)
    return phrase("case_pressed_unknown", lang)


async def _context(session: AsyncSession, ticket: Ticket, messages: list[Message]) -> list[Message]:
    """The conversation's messages of the half hour before the ticket's own that belong to no
    ticket: what the person asked the bot just before asking for a human about something else."""
    first = messages[0] if messages else None
    until = first.id if first is not None else None
    since = (first.created_at if first is not None else ticket.created_at) - CONTEXT
    query = select(Message).where(
        Message.conversation_id == ticket.conversation_id,
        Message.ticket_id.is_(None),
        Message.created_at >= since,
    )
    if until is not None:
        query = query.where(Message.id < until)
    return list(await session.scalars(query.order_by(Message.id)))


async def _feedback(session: AsyncSession, message_ids: list[int]) -> dict[int, bool]:
    if not message_ids:
        return {}
    rows = await session.execute(
        select(Feedback.message_id, Feedback.helpful).where(Feedback.message_id.in_(message_ids))
    )
    return {message_id: helpful for message_id, helpful in rows}


def _offered(
    messages: list[Message],
    helpful: dict[int, bool],
    kb: KnowledgeBase | None,
    public_url: str,
) -> tuple[Offered, ...]:
    """Every entry the bot's answers and choices offered, first offer first; an outright answer
    brings its confidence, feedback on it whether it helped."""
    found: dict[str, Offered] = {}
    for message in messages:
        if message.author != Author.BOT or message.decision not in _ANSWERS:
            continue
        outright = message.decision == Action.ANSWER.value and message.entry_id is not None
        for entry_id in [message.entry_id] if outright else (message.options or []):
            if entry_id is None:
                continue
            entry = kb.get(entry_id) if kb is not None else None
            known = found.get(entry_id)
            found[entry_id] = Offered(
                entry_id=entry_id,
                title=entry.title if entry is not None else entry_id,
                confidence=(
                    message.confidence
                    if outright and message.confidence is not None
                    else (known.confidence if known else None)
                ),
                choice=known.choice if known else not outright,
                helpful=helpful.get(message.id, known.helpful if known else None),
                link=entry_link(entry, public_url) if entry is not None else None,
            )
    return tuple(found.values())


async def _earlier(
    session: AsyncSession, ticket: Ticket, contact: Contact | None
) -> tuple[Earlier, ...]:
    if contact is None:
        return ()
    rows = await session.scalars(
        select(Ticket)
        .join(Conversation, Conversation.id == Ticket.conversation_id)
        .where(Conversation.contact_id == contact.id, Ticket.id < ticket.id)
        .order_by(Ticket.id.desc())
        .limit(EARLIER)
    )
    return tuple(Earlier(t.id, t.created_at, t.status, t.question) for t in rows)
