"""The case card, ownership of tickets, the audit of operators' actions and answering with an
entry, through the real engine and queue on SQLite."""

from __future__ import annotations

import pytest
from engine_fixtures import DEAL, ENTRIES, NONSENSE, Rig, buttons, rig
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import case_reply
from bot.engine import Say
from bot.errors import TicketError, TicketNotTakenError, TicketNotYoursError, TicketTakenError
from bot.pairings import resolved_pairings
from bot.replies import render_plain
from bot.storage import audit
from bot.storage.models import Ticket
from bot.why import REPAIRS


@pytest.fixture
def db_url(sqlite_db_url: str) -> str:
    return sqlite_db_url


@pytest.fixture
def bot(sessions: async_sessionmaker[AsyncSession], clock: object) -> Rig:
    return rig(sessions, clock)  # type: ignore[arg-type]


async def _subject(bot: Rig, ticket_id: int) -> str:
    async with bot.sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None
    return ticket.question


async def test_a_request_for_a_human_that_states_the_problem_is_the_subject(bot: Rig) -> None:
    await bot.say(DEAL)
    await bot.say("не работает телефония, позовите оператора")
    assert await _subject(bot, 1) == "не работает телефония, позовите оператора"


async def test_a_bare_request_for_a_human_is_about_the_question_just_discussed(bot: Rig) -> None:
    await bot.say(NONSENSE)
    await bot.say("позовите оператора пожалуйста")
    assert await _subject(bot, 1) == NONSENSE


async def test_the_card_shows_offers_confidence_and_presses_in_words(
    bot: Rig, clock: object
) -> None:
    answer = await bot.say(DEAL)
    await bot.say(payload=buttons(answer)["Не помогло"])
    await bot.say("позовите оператора")
    clock.advance(minutes=12)  # type: ignore[attr-defined]
    card = await bot.queue.case(1)
    assert card.subject == DEAL and card.status == "waiting" and card.unanswered
    first = card.offered[0]
    assert first.entry_id == ENTRIES[0].id and first.title == DEAL
    assert first.confidence is not None and first.helpful is False
    assert all(o.choice for o in card.offered[1:])  # the next-best entries after «Не помогло»
    text = render_plain(case_reply(card, "ru"))
    assert "нажал «Не помогло»" in text and "[button" not in text and "fb:no" not in text
    assert f"{DEAL} — уверенность {first.confidence:.2f} · не помогло" in text
    assert "ждёт 12 мин" in text and "(UTC)" in text


async def test_the_card_lists_the_persons_earlier_tickets_and_a_rating_in_words(
    bot: Rig,
) -> None:
    await bot.say(NONSENSE)
    await bot.say("позовите оператора")
    await bot.queue.take(1, "anna")
    await bot.queue.close(1, "anna")
    await bot.say(payload="rate:1:4")
    await bot.say("не могу войти в приложение, позовите оператора")
    card = await bot.queue.case(2)
    assert [e.ticket_id for e in card.earlier] == [1]
    first = render_plain(case_reply(await bot.queue.case(1), "ru"))
    assert "оценил 4 из 5" in first and "rate:1:4" not in first


async def test_only_the_holder_answers_transfers_or_closes_and_force_takes_over(
    bot: Rig,
) -> None:
    await bot.say("не работает телефония, позовите оператора")
    with pytest.raises(TicketNotTakenError):
        await bot.queue.reply(1, "bob", "hi")
    await bot.queue.take(1, "anna")
    for refused in (
        bot.queue.reply(1, "bob", "hi"),
        bot.queue.close(1, "bob"),
        bot.queue.transfer(1, "carl", by="bob"),
    ):
        with pytest.raises(TicketNotYoursError, match="anna holds it"):
            await refused
    with pytest.raises(TicketTakenError, match="anna"):
        await bot.queue.take(1, "bob")
    assert (await bot.queue.get(1)).operator == "anna"
    await bot.queue.take(1, "boss", force=True)
    await bot.queue.reply(1, "boss", "Сейчас помогу")
    await bot.queue.close(1, "boss")
    async with bot.sessions() as session:
        done = [(a.operator, a.action, a.detail) for a in await audit.actions(session, 1)]
    assert done == [
        ("anna", "take", None),
        ("boss", "force_take", "anna"),
        ("boss", "reply", None),
        ("boss", "close", None),
    ]


async def test_an_entry_sent_by_an_operator_reaches_the_person_and_pairs_with_the_question(
    bot: Rig,
) -> None:
    question = "не могу создать сделку, позовите оператора"
    await bot.say(question)
    await bot.queue.take(1, "anna")
    with pytest.raises(TicketError, match="no knowledge-base entry"):
        await bot.queue.send_entry(1, "anna", "no-such-entry")
    out = await bot.queue.send_entry(1, "anna", ENTRIES[0].id)
    assert [(type(o), o.reply.title) for o in out if isinstance(o, Say)] == [(Say, DEAL)]
    assert len(out) == 1 and isinstance(out[0], Say) and out[0].reply.buttons == ()
    assert out[0].reply.links and out[0].reply.links[0].url == ENTRIES[0].url
    assert await resolved_pairings(bot.sessions) == []  # not settled before the close
    await bot.queue.close(1, "anna")
    [pairing] = await resolved_pairings(bot.sessions)
    assert (pairing.question, pairing.entry_id, pairing.operator) == (
        question,
        ENTRIES[0].id,
        "anna",
    )


async def test_the_card_says_how_the_question_was_read_and_the_rule_that_decided(
    bot: Rig,
) -> None:
    await bot.say("kak dobavit sdelku")  # Russian in Latin letters: answered outright
    await bot.say("позовите оператора")
    card = await bot.queue.case(1)
    assert card.why is not None and card.why.question.original == "kak dobavit sdelku"
    text = render_plain(case_reply(card, "ru"))
    why = text[text.index("Почему") :].splitlines()
    assert why[1].startswith("прочитан как «как добавит сделку»: транслит kak → как;")
    assert why[2].startswith("ответ: P(верно)=") and "≥" in why[2] and "отрыв" in why[2]
    english = render_plain(case_reply(card, "en"))
    assert "transliteration dobavit → добавит" in english and "answer: P(right)=" in english


async def test_the_why_of_a_question_read_as_typed_names_the_failed_bar(bot: Rig) -> None:
    await bot.say(NONSENSE)
    await bot.say("позовите оператора")
    text = render_plain(case_reply(await bot.queue.case(1), "ru"))
    assert "прочитан как написан\nоператору: " in text and " < " in text


async def test_the_why_of_a_huge_repaired_question_stays_short(bot: Rig) -> None:
    huge = " ".join(["dobavit sdelku"] * 400)
    await bot.say(huge)
    await bot.say("позовите оператора")
    card = await bot.queue.case(1)
    assert card.why is not None and len(card.why.question.repairs) > REPAIRS
    text = render_plain(case_reply(card, "ru"))
    why = text[text.index("Почему") :].split("\n\n")[0]
    assert "и ещё" in why and len(why) < 1200
