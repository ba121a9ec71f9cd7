"""The conversation engine's state machine, on a migrated SQLite file and a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from engine_fixtures import DEAL, ENTRIES, NONSENSE, TASK, Rig, buttons, rig, text_of, to_person
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.cases import case_reply
from bot.engine import (
    HandToQueue,
    Incoming,
    Relayed,
    Release,
    Resolved,
    Say,
    State,
    TicketClosed,
    TicketOpened,
    conversation_state,
)
from bot.errors import EngineError
from bot.payloads import HERE, MAX_PAYLOAD_BYTES, Payload, Press, as_sent, decode
from bot.storage.models import Conversation, Feedback, Message, Ticket
from bot.texts import PHRASES
from knowledge.base import KnowledgeBase


@pytest.fixture
def db_url(sqlite_db_url: str) -> str:
    """Unit tests run on SQLite only; tests/integration covers PostgreSQL."""
    return sqlite_db_url


@pytest.fixture
def bot(sessions: async_sessionmaker[AsyncSession], clock: object) -> Rig:
    return rig(sessions, clock)  # type: ignore[arg-type]


def ru(key: str) -> str:
    return PHRASES[key]["ru"]


async def count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def state(sessions: async_sessionmaker[AsyncSession], person: str = "42") -> str:
    async with sessions() as session:
        conv = await session.scalar(
            select(Conversation).where(Conversation.external_id == f"chat-{person}")
        )
        assert conv is not None
        return await conversation_state(session, conv.id)


async def test_question_is_answered_with_feedback_buttons(bot: Rig) -> None:
    out = await bot.say(DEAL)
    assert [type(o) for o in out] == [Say]
    assert to_person(out)[0].reply.title == DEAL
    assert list(buttons(out)) == [ru("btn_helped"), ru("btn_not_helped"), ru("btn_operator")]
    assert all(len(p.encode()) <= MAX_PAYLOAD_BYTES for p in buttons(out).values())
    async with bot.sessions() as session:
        reply = await session.get(Message, out[0].message_id)
    assert reply is not None and reply.decision == "answer"
    assert reply.entry_id == ENTRIES[0].id and reply.confidence and reply.question_id


async def test_helped_is_recorded_once_and_not_chased(bot: Rig, sessions: object) -> None:
    out = await bot.say(DEAL)
    thanks = await bot.say(payload=buttons(out)[ru("btn_helped")])
    assert text_of(thanks) == ru("helped") and not buttons(thanks)
    resolved = Resolved(
        channel="test", conversation_id="chat-42", message_id=to_person(out)[0].message_id
    )
    assert thanks[-1] == resolved  # the person's last word: it helped
    again = await bot.say(payload=buttons(out)[ru("btn_helped")])
    assert text_of(again) == ru("stale") and again[-1] == resolved  # pressed again: still so
    async with bot.sessions() as session:
        feedback = list(await session.scalars(select(Feedback)))
    assert [(f.helpful, f.entry_id) for f in feedback] == [(True, ENTRIES[0].id)]


async def test_welcome_greets_and_stores_nothing(bot: Rig) -> None:
    [greeting] = bot.engine.welcome("test", "chat-42")
    assert isinstance(greeting, Say) and greeting.conversation_id == "chat-42"
    assert text_of([greeting]) == ru("smalltalk_greeting") and greeting.ticket_id is None
    async with bot.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0


async def test_a_ticket_handed_to_the_channels_queue_keeps_the_place_and_is_released_with_it(
    bot: Rig, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A channel with its own operators' queue (a Bitrix24 line) names where the person writes
    from (``ref``); the ticket handed there keeps it. When the channel says that place is over
    (``released``), the ticket is closed as the queue's first, in the same turn, and the
    message is the bot's to answer again; a release naming another place changes nothing."""
    here = {"channel": "test", "conversation_id": "chat-42", "person_id": "42"}
    out = await bot.engine.handle(Incoming(**here, text=DEAL, ref="line:1"))
    handed = await bot.engine.handle(
        Incoming(**here, payload=buttons(out)[ru("btn_operator")], ref="line:1")
    )
    assert [type(o) for o in handed] == [Say, TicketOpened, HandToQueue]
    async with sessions() as session:
        assert (await session.get(Ticket, 1)).external_ref == "line:1"  # type: ignore[union-attr]

    elsewhere = Release("line:0", "the line", "its session ended")
    meanwhile = await bot.engine.handle(Incoming(**here, text="алло", released=elsewhere))
    assert not [o for o in meanwhile if isinstance(o, TicketClosed)]
    async with sessions() as session:
        assert (await session.get(Ticket, 1)).status == "waiting"  # type: ignore[union-attr]

    gone = Release("line:1", "the line", "its session ended")
    out = await bot.engine.handle(Incoming(**here, text=TASK, ref="line:2", released=gone))
    closed, *answer = out
    assert isinstance(closed, TicketClosed) and closed.operator == "the line"
    assert to_person(answer)[0].reply.title == TASK  # answered, not relayed
    async with sessions() as session:
        ticket = await session.get(Ticket, 1)
        assert ticket is not None and (ticket.status, ticket.note) == ("closed", gone.why)


async def test_not_helped_offers_next_best_once_then_escalates(bot: Rig) -> None:
    first = await bot.say(DEAL)
    offered = await bot.say(payload=buttons(first)[ru("btn_not_helped")])
    assert ru("alternatives_intro") in text_of(offered)
    assert not [o for o in offered if isinstance(o, Resolved)]
    choices = buttons(offered)
    assert ENTRIES[0].title not in choices and ENTRIES[1].title in choices
    picked = await bot.say(payload=choices[ENTRIES[1].title])
    assert to_person(picked)[0].reply.title == ENTRIES[1].title
    escalated = await bot.say(payload=buttons(picked)[ru("btn_not_helped")])
    assert "№1" in text_of(escalated) and "место в очереди: 1" in text_of(escalated)
    assert [type(o) for o in escalated] == [Say, TicketOpened, HandToQueue]
    [opened] = [o for o in escalated if isinstance(o, TicketOpened)]
    assert opened.card.ticket_id == opened.ticket_id == 1 and opened.card.subject == DEAL
    assert opened.card.status == "waiting" and "№1" in opened.notice
    assert await state(bot.sessions) == State.WAITING
    async with bot.sessions() as session:
        ticket = await session.scalar(select(Ticket))
    assert ticket is not None and ticket.reason == "not_helped" and ticket.question == DEAL


async def test_out_of_scope_offers_operator_and_the_button_opens_a_ticket(bot: Rig) -> None:
    out = await bot.say(NONSENSE)
    assert text_of(out) == ru("escalate")
    escalated = await bot.say(payload=buttons(out)[ru("btn_operator")])
    assert any(isinstance(o, TicketOpened) for o in escalated)
    async with bot.sessions() as session:
        ticket = await session.scalar(select(Ticket))
    assert ticket is not None and ticket.reason == "requested" and ticket.question == NONSENSE


async def test_a_forged_helped_press_on_what_is_not_an_answer_resolves_nothing(bot: Rig) -> None:
    offer = await bot.say(NONSENSE)  # an offer of an operator: no «Помогло» on it
    forged = Payload(Press.HELPED, to_person(offer)[0].message_id or 0).encode()
    out = await bot.say(payload=forged)
    assert text_of(out) == ru("stale") and not [o for o in out if isinstance(o, Resolved)]


async def test_asking_for_an_operator_escalates_the_question_just_asked(bot: Rig) -> None:
    await bot.say(TASK)
    out = await bot.say("позовите оператора")
    assert any(isinstance(o, TicketOpened) for o in out)
    async with bot.sessions() as session:
        ticket = await session.scalar(select(Ticket))
    assert ticket is not None and ticket.question == TASK


async def test_open_ticket_takes_messages_instead_of_the_knowledge_base(bot: Rig) -> None:
    await bot.say(NONSENSE)
    await bot.say("позовите оператора")
    first = await bot.say(DEAL)
    second = await bot.say("и ещё подробности")
    assert text_of(first) == PHRASES["ticket_relayed"]["ru"].format(ticket=1)
    assert not to_person(second)  # a burst is acknowledged once
    relays = [o for o in first + second if isinstance(o, Relayed)]
    assert [o.text for o in relays] == [DEAL, "и ещё подробности"]
    assert all(o.ticket_id == 1 and o.operator is None for o in relays)


async def test_cancel_word_closes_the_ticket_and_returns_to_the_bot(bot: Rig) -> None:
    await bot.say(NONSENSE)
    await bot.say("позовите оператора")
    out = await bot.say("Отмена")
    assert text_of(out) == PHRASES["ticket_cancelled"]["ru"].format(ticket=1)
    assert [o.cancelled for o in out if isinstance(o, TicketClosed)] == [True]
    assert await state(bot.sessions) == State.BOT
    answered = await bot.say(DEAL)
    assert to_person(answered)[0].reply.title == DEAL


async def test_same_question_within_minutes_never_opens_a_second_ticket(
    bot: Rig, clock: object
) -> None:
    for _ in range(2):
        out = await bot.say(NONSENSE)
        await bot.say(payload=buttons(out)[ru("btn_operator")])
        await bot.say("отмена")
        clock.advance(minutes=3)  # type: ignore[attr-defined]
    assert await count(bot.sessions, Ticket) == 1
    clock.advance(minutes=30)  # type: ignore[attr-defined]
    out = await bot.say(NONSENSE)
    await bot.say(payload=buttons(out)[ru("btn_operator")])
    assert await count(bot.sessions, Ticket) == 2


async def test_outside_working_hours_the_ticket_is_created_and_says_when(
    sessions: async_sessionmaker[AsyncSession], clock: object
) -> None:
    clock.advance(days=5)  # type: ignore[attr-defined]  # Saturday
    weekend = rig(sessions, clock, hours={"timezone": "Europe/Chisinau", "days": "mon-fri"})  # type: ignore[arg-type]
    out = await weekend.say("позовите оператора")
    assert any(isinstance(o, TicketOpened) for o in out)
    assert "понедельник" not in text_of(out) and "пн в 09:00" in text_of(out)
    assert "пн–пт 09:00–18:00 (Europe/Chisinau)" in text_of(out)


async def test_inside_working_hours_nothing_is_said_about_hours(bot: Rig) -> None:
    out = await bot.say("позовите оператора")
    assert "09:00" not in text_of(out)


@pytest.mark.parametrize(
    ("code", "label"),
    [("en-US", "Helped"), ("ro", "M-a ajutat"), ("", "Помогло"), ("de", "Помогло")],
)
async def test_phrases_follow_the_channel_language(bot: Rig, code: str, label: str) -> None:
    out = await bot.say(DEAL, language_code=code)
    assert label in buttons(out)


async def test_without_a_channel_language_the_question_language_is_used(bot: Rig) -> None:
    out = await bot.say("How do I add a deal in CRM?")
    assert "Helped" in buttons(out) or text_of(out) == PHRASES["escalate"]["en"]


async def test_small_talk_says_what_the_bot_can_do(bot: Rig) -> None:
    assert text_of(await bot.say("привет")) == ru("smalltalk_greeting")
    assert text_of(await bot.say("спасибо")) == ru("smalltalk_thanks")


async def test_empty_text_asks_for_a_question(bot: Rig) -> None:
    assert text_of(await bot.say("   ")) == ru("empty")


async def test_a_100_kb_message_is_cut_stored_and_answered(bot: Rig) -> None:
    out = await bot.say(DEAL + " " + "я" * 100_000)
    assert to_person(out)
    async with bot.sessions() as session:
        stored = await session.scalar(select(Message).order_by(Message.id).limit(1))
    assert stored is not None and len(stored.text) == 4000


@pytest.mark.parametrize(
    "payload",
    ["fb:ok:999", "pick:1:9", "garbage", "rate:5:3", "cancel:1", f"fb:ok:{HERE}", f"op:{HERE}"],
)  # HERE: what a stored row's buttons say for their own message, never sent, so a forgery
async def test_stale_or_foreign_presses_change_nothing(bot: Rig, payload: str) -> None:
    await bot.say(DEAL)
    out = await bot.say(payload=payload)
    assert text_of(out) == ru("stale")
    assert await count(bot.sessions, Ticket) == 0 and await count(bot.sessions, Feedback) == 0


async def test_a_press_from_another_conversation_is_stale(bot: Rig) -> None:
    out = await bot.say(DEAL, person="1")
    stolen = await bot.say(payload=buttons(out)[ru("btn_not_helped")], person="2")
    assert text_of(stolen) == ru("stale")
    assert await count(bot.sessions, Feedback) == 0


async def test_old_buttons_while_waiting_remind_of_the_ticket(bot: Rig) -> None:
    answer = await bot.say(DEAL)
    await bot.say("позовите оператора")
    out = await bot.say(payload=buttons(answer)[ru("btn_helped")])
    assert text_of(out) == PHRASES["ticket_busy"]["ru"].format(ticket=1)
    cancelled = await bot.say(payload=buttons(out)[ru("btn_cancel")])
    assert await state(bot.sessions) == State.BOT and ru("btn_cancel") not in buttons(cancelled)


async def test_close_then_rate_once(bot: Rig) -> None:
    await bot.say("позовите оператора")
    await bot.queue.take(1, "anna")
    assert await state(bot.sessions) == State.OPERATOR
    closed = await bot.queue.close(1, "anna", note="explained")
    rate = buttons(closed)
    assert list(rate) == ["1", "2", "3", "4", "5"]
    assert await state(bot.sessions) == State.CLOSED
    thanks = await bot.say(payload=rate["5"])
    assert text_of(thanks) == ru("rated")
    assert text_of(await bot.say(payload=rate["1"])) == ru("stale")
    async with bot.sessions() as session:
        ticket = await session.get(Ticket, 1)
    assert ticket is not None and ticket.rating == 5 and ticket.note == "explained"
    again = await bot.say(DEAL)
    assert to_person(again)[0].reply.title == DEAL
    assert await state(bot.sessions) == State.BOT


async def test_a_reopened_ticket_keeps_its_reason_unless_the_bot_failed(bot: Rig) -> None:
    """The same question again within the window reopens the ticket as it was asked first
    («requested» stays); only a hand-off of a message our code failed on says so."""
    answered = await bot.say(DEAL)
    opened = await bot.say(payload=buttons(answered)[ru("btn_operator")])
    await bot.say(payload=buttons(opened)[ru("btn_cancel")])
    first = await bot.say(DEAL)
    offered = await bot.say(payload=buttons(first)[ru("btn_not_helped")])
    picked = await bot.say(payload=buttons(offered)[ENTRIES[1].title])
    again = await bot.say(payload=buttons(picked)[ru("btn_not_helped")])
    assert any(isinstance(o, TicketOpened) for o in again)
    async with bot.sessions() as session:
        ticket = await session.get(Ticket, 1)
    assert ticket is not None and (ticket.status, ticket.reason) == ("waiting", "requested")
    await bot.say(payload=buttons(again)[ru("btn_cancel")])
    await bot.engine.hand_over(Incoming("test", "chat-42", "42", DEAL, message_id="u9"), "KeyError")
    async with bot.sessions() as session:
        ticket = await session.get(Ticket, 1)
    assert ticket is not None and ticket.reason == "failed:KeyError"
    assert await count(bot.sessions, Ticket) == 1


async def test_a_reopened_ticket_can_be_rated_again(bot: Rig, clock: object) -> None:
    """Reopening kept the first rating, so the second close's stars all answered «stale»."""
    await bot.say("позовите оператора")
    await bot.queue.set_external_ref(1, "topic-7")
    await bot.queue.take(1, "anna")
    await bot.queue.reply(1, "anna", "Сейчас посмотрю")
    first = await bot.queue.close(1, "anna", note="explained")
    assert text_of(await bot.say(payload=buttons(first)["5"])) == ru("rated")
    clock.advance(minutes=3)  # type: ignore[attr-defined]
    await bot.say("позовите оператора")  # the same question again: the ticket is reopened
    async with bot.sessions() as session:
        ticket = await session.get(Ticket, 1)
    assert ticket is not None and ticket.status == "waiting" and ticket.external_ref == "topic-7"
    assert (ticket.rating, ticket.note, ticket.first_reply_at) == (None, None, None)
    assert await count(bot.sessions, Ticket) == 1
    await bot.queue.take(1, "bob")
    second = await bot.queue.close(1, "bob")
    assert text_of(await bot.say(payload=buttons(second)["2"])) == ru("rated")
    async with bot.sessions() as session:
        ticket = await session.get(Ticket, 1)
    assert ticket is not None and ticket.rating == 2 and ticket.operator == "bob"


@contextmanager
def recording(db: AsyncEngine) -> Iterator[list[str]]:
    """The statements run on ``db`` meanwhile, each cut at its first "(" (``INSERT INTO …``)."""
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.split("(")[0].strip())

    event.listen(db.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.sync_engine, "before_cursor_execute", record)


async def test_a_bot_reply_is_one_insert_even_when_its_buttons_carry_its_id(
    bot: Rig, db: AsyncEngine
) -> None:
    out = await bot.say(DEAL)
    with recording(db) as statements:
        await bot.say(payload=buttons(out)[ru("btn_helped")])  # «Спасибо»: no buttons
        thanks = list(statements)
        statements.clear()
        await bot.say(TASK)  # an answer: its feedback buttons carry the message id
        answer = list(statements)
    assert thanks.count("INSERT INTO messages") == 2  # the press and the reply
    assert answer.count("INSERT INTO messages") == 2
    assert not [s for s in thanks + answer if s.startswith("UPDATE messages")]
    async with bot.sessions() as session:
        reply = await session.get(Message, out[0].message_id)
    assert reply is not None and reply.text.startswith(DEAL) and reply.buttons
    sent = [[b.label, b.payload] for b in to_person(out)[0].reply.buttons]
    assert [[label, as_sent(stored, reply.id)] for label, stored in reply.buttons] == sent
    refs = {payload.ref for _, stored in reply.buttons if (payload := decode(stored))}
    assert refs == {HERE}  # the stored row names the message itself, not its id


async def test_a_known_conversation_its_person_and_open_ticket_are_one_select(
    bot: Rig, db: AsyncEngine
) -> None:
    await bot.say(DEAL)
    with recording(db) as answered:
        await bot.say(TASK)
    await bot.say(payload=buttons(await bot.say(DEAL))[ru("btn_operator")])
    with recording(db) as relayed:
        out = await bot.say("ещё вопрос")
    assert _tables_read(answered) == ["conversations"]
    assert _tables_read(relayed)[0] == "conversations"
    assert not {"contacts", "tickets"} & set(_tables_read(relayed))
    assert [e for e in out if isinstance(e, Relayed)]  # the open ticket came with it


def _tables_read(statements: list[str]) -> list[str]:
    """The first table of each SELECT (``SELECT conversations.id, …`` → ``conversations``)."""
    return [s.split()[1].split(".")[0] for s in statements if s.startswith("SELECT")]


async def test_events_of_one_conversation_are_serialised(bot: Rig) -> None:
    results = await asyncio.gather(*(bot.say(DEAL) for _ in range(5)))
    assert all(to_person(r) for r in results)
    assert await count(bot.sessions, Message) == 10


async def test_an_event_without_ids_is_an_engine_error(bot: Rig) -> None:
    with pytest.raises(EngineError):
        await bot.engine.handle(Incoming("test", "", "42", "hi"))


async def test_the_case_card_tells_a_press_by_the_label_of_the_button_pressed(bot: Rig) -> None:
    """The stored buttons name their own message as HERE: the card still finds the label."""
    out = await bot.say(DEAL)
    opened = await bot.say(payload=buttons(out)[ru("btn_operator")])
    [card] = [e.card for e in opened if isinstance(e, TicketOpened)]
    pressed = [line.text for line in card.lines if line.pressed]
    assert pressed == [f"нажал «{ru('btn_operator')}»"]


async def test_a_turn_leaves_the_conversation_clean_unless_its_language_changes(
    bot: Rig, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The statements after a turn (an adapter's outbox rows, in ``then``) need no flush of
    the ORM: an unchanged language is not even set on the conversation. A changed one is
    still stored."""
    dirty: list[list[str]] = []

    async def then(session: AsyncSession, _events: object) -> None:
        dirty.append(sorted(type(o).__name__ for o in session.dirty))

    async def say(text: str, code: str) -> None:
        await bot.engine.handle(
            Incoming("test", "chat-42", "42", text, language_code=code), then=then
        )

    await say(DEAL, "ru")
    await say(TASK, "ru")
    assert dirty[1] == []
    await say(DEAL, "en")
    assert dirty[2] == ["Conversation"]
    async with sessions() as session:
        conv = await session.scalar(
            select(Conversation).where(Conversation.external_id == "chat-42")
        )
        assert conv is not None and conv.lang == "en"


async def test_a_message_our_code_failed_on_is_escalated_as_it_stands(bot: Rig) -> None:
    """The inbox's hand-off of a given-up event: no knowledge-base answer, a ticket whose
    card says the bot failed and the error's class, the person's usual hand-off text."""
    incoming = Incoming("test", "chat-42", "42", DEAL, message_id="u1")
    out = await bot.engine.hand_over(incoming, "KeyError")
    assert [type(o) for o in out] == [Say, TicketOpened, HandToQueue]
    assert "№1" in text_of(out) and "место в очереди: 1" in text_of(out)
    [opened] = [o for o in out if isinstance(o, TicketOpened)]
    assert (opened.card.reason, opened.card.subject) == ("failed:KeyError", DEAL)
    card = "\n".join(case_reply(opened.card, "ru").blocks)
    assert "Бот не смог обработать это сообщение (ошибка KeyError)" in card
    assert await state(bot.sessions) == State.WAITING


async def test_the_hand_off_does_not_run_the_knowledge_code_again(
    bot: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What failed on the text once (here the explanation) must not break the hand-off."""

    def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("the text again")

    monkeypatch.setattr(KnowledgeBase, "explain", broken)
    incoming = Incoming("test", "chat-42", "42", DEAL, message_id="u1")
    out = await bot.engine.hand_over(incoming, "KeyError")
    [opened] = [o for o in out if isinstance(o, TicketOpened)]
    assert opened.card.reason == "failed:KeyError" and opened.card.why is None
    assert await state(bot.sessions) == State.WAITING


async def test_a_message_our_code_failed_on_joins_the_open_ticket(bot: Rig) -> None:
    await bot.say(NONSENSE)
    await bot.say("позовите оператора")
    incoming = Incoming("test", "chat-42", "42", "и ещё подробности", message_id="u2")
    out = await bot.engine.hand_over(incoming, "KeyError")
    assert [type(o) for o in out] == [Relayed, Say]  # relayed, acknowledged once
    async with bot.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 1
