"""End to end, the operators' side of the real app against the fake Telegram as the platform behaves
(issue 13 points 8 and 10): callback answers that come too late, anonymous administrators, one
slow topic, closed and deleted topics, sends a person refuses, formatting, and what Bot API 9.4-10.3
offers (ephemeral messages, reactions, button styles).

Each test failed on the bot before issue 13's fixes (they were strict xfails naming the point).
The harness (`running`, `_escalate`) is test_telegram.py's.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from serving import count_rows
from test_telegram import OFF_TOPIC, QUESTION, Mode, World, _escalate, running
from test_telegram_platform import drained

from bot.__main__ import main
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage
from knowledge.base import KnowledgeBase

EYES = {"type": "emoji", "emoji": "👀"}
ANSWERED = {"👌", "👍", "🫡", "💯"}  # ✅ is not a reaction Telegram allows


async def _taken(w: World, thread: int, card_data: str) -> None:
    """Olga takes the ticket; the person and the topic have been told."""
    card = await w.fake.wait_for_message(w.group, lambda m: card_data in m.callback_data)
    w.press(w.olga, card, card_data)
    await w.said(w.group, "взял", thread_id=thread)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_take_answered_too_late_is_taken_once_and_its_card_updated(
    sqlite_db_url: str, kb: KnowledgeBase, mode: Mode
) -> None:
    async with running(sqlite_db_url, kb, mode) as w:
        ann = w.fake.add_user("Ann")
        _thread, card = await _escalate(w, ann)
        w.fake.delay("getChatMember", 0.5, n=1)  # the membership check is slow...
        query = w.fake.press_button(w.olga, card, card.callback_data[0])
        w.fake.advance(16)  # ...and the answer window has passed when it is done

        await w.said(ann, "взял")
        await w.fake.wait_for_call(  # the card, edited in place: «Взять» gives way to «Забрать»
            "editMessageText", lambda c: c.ok and c.param("message_id") == card.message_id
        )
        assert [d.split(":")[0] for d in card.callback_data] == ["takeover"]
        assert await count_rows(w.services, InboxUpdate, status=DeliveryStatus.FAILED) == 0
        assert query.answer is None or not query.answer.get("show_alert")


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_an_anonymous_administrator_replies_and_closes(
    sqlite_db_url: str, kb: KnowledgeBase, mode: Mode
) -> None:
    async with running(sqlite_db_url, kb, mode) as w:
        ann = w.fake.add_user("Ann")
        thread, _card = await _escalate(w, ann)

        w.fake.anonymous_admin_sends(w.group, thread, "Здравствуйте, смотрю", signature="Olga")
        await w.said(ann, "Здравствуйте, смотрю")
        w.fake.anonymous_admin_sends(w.group, thread, "/close", signature="Olga")
        await w.said(ann, "закрыто")


async def test_a_slow_topic_does_not_hold_another(sqlite_db_url: str, kb: KnowledgeBase) -> None:
    """Polling only: a getUpdates batch brings both topics' updates into one pass of the inbox.
    A webhook delivers them one by one, and an update stored while a pass waits for a slow chat
    waits for the next pass (the inbox's pass structure, not the order key)."""
    async with running(sqlite_db_url, kb) as w:
        ann, bob = w.fake.add_user("Ann"), w.fake.add_user("Bob")
        ann_thread, _ = await _escalate(w, ann)
        bob_thread, bob_card = await _escalate(w, bob)
        w.press(w.olga, bob_card, "take:")  # only the holder answers
        await w.said(bob, "Olga взял")
        w.fake.delay("getChatMember", 5.0, n=1)

        w.fake.operator_sends(w.group, ann_thread, w.olga, "/close")
        w.fake.operator_sends(w.group, bob_thread, w.olga, "Ответ для Боба")
        await w.said(bob, "Ответ для Боба", timeout=2.5)


async def test_closing_a_topic_already_closed_by_hand_is_no_error(
    sqlite_db_url: str, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        w.fake.add_member(w.group, w.olga, "administrator")  # may write in a closed topic
        thread, _card = await _escalate(w, ann)
        w.fake.close_topic(w.group, thread, by=w.olga)
        w.fake.operator_sends(w.group, thread, w.olga, "/close решено")
        await w.said(ann, "закрыто")
        await drained(w)

        assert await count_rows(w.services, OutboxMessage, status=DeliveryStatus.FAILED) == 0
        assert len(w.fake.topics(w.group)) == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_closing_a_ticket_whose_topic_was_deleted_opens_no_topic(
    sqlite_db_url: str, kb: KnowledgeBase, tmp_path: Path
) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        thread, _card = await _escalate(w, ann)
        w.fake.delete_topic(w.group, thread)
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(tmp_path)  # no stray .env is read
            patch.setenv("DATABASE_URL", sqlite_db_url)
            patch.setenv("OPERATOR_CHAT_ID", str(w.group.id))  # as the deployment's .env has it
            argv = ["operator", "--as", "anna", "close", "1", "--anyway"]  # Ann is unanswered
            assert await asyncio.to_thread(main, argv) == 0
        await w.said(ann, "закрыто")
        await drained(w)

        assert len(w.fake.topics(w.group)) == 1
        assert await count_rows(w.services, OutboxMessage, status=DeliveryStatus.FAILED) == 0


async def test_a_late_notice_reaches_a_closed_topic_without_reopening_it(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    """The bot created the topic and may manage topics, so it posts into it after closing it
    (TD `can_send_message_to_forum_topic`); the rating arrives with no reopenForumTopic."""
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        thread, _card = await _escalate(w, ann)
        w.fake.operator_sends(w.group, thread, w.olga, "/close")
        closed = await w.said(ann, "закрыто")
        await w.fake.wait_for(lambda: w.fake.topics(w.group)[0].closed)
        w.press(ann, closed, ":4")

        await w.said(w.group, "Оценка обращения", thread_id=thread)
        assert w.fake.calls("reopenForumTopic") == []


async def test_a_refused_voice_message_is_reported_in_the_topic(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann", voice_forbidden=True)
        thread, card = await _escalate(w, ann)
        await _taken(w, thread, card.callback_data[0])
        before = len(w.fake.bot_messages(w.group, thread_id=thread))

        w.fake.user_sends_media(w.olga, "voice", chat=w.group, thread_id=thread)
        await w.fake.wait_for_call("copyMessage", lambda c: c.chat_id == ann.id)
        await w.fake.wait_for(lambda: len(w.fake.bot_messages(w.group, thread_id=thread)) > before)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_an_operators_formatting_reaches_the_person(
    sqlite_db_url: str, kb: KnowledgeBase, mode: Mode
) -> None:
    entities = [
        {"type": "bold", "offset": 0, "length": 5},
        {"type": "text_link", "offset": 6, "length": 6, "url": "https://helpdesk.example/a"},
    ]
    async with running(sqlite_db_url, kb, mode) as w:
        ann = w.fake.add_user("Ann")
        thread, card = await _escalate(w, ann)
        await _taken(w, thread, card.callback_data[0])

        w.fake.operator_sends(w.group, thread, w.olga, "Важно: ссылка", entities=entities)
        relayed = await w.said(ann, "ссылка")
        assert (relayed.text, relayed.entities) == ("Важно: ссылка", entities)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_usage_hint_is_shown_to_that_operator_only(
    sqlite_db_url: str, kb: KnowledgeBase, mode: Mode
) -> None:
    async with running(sqlite_db_url, kb, mode) as w:
        ann = w.fake.add_user("Ann")
        thread, card = await _escalate(w, ann)
        await _taken(w, thread, card.callback_data[0])
        before = len(w.fake.bot_messages(w.group, thread_id=thread))

        w.fake.operator_sends(w.group, thread, w.olga, "/transfer")
        await w.fake.wait_for(lambda: w.fake.ephemeral_messages(w.group, receiver=w.olga))
        assert len(w.fake.bot_messages(w.group, thread_id=thread)) == before


async def test_reactions_mark_a_taken_and_an_answered_question(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        thread, card = await _escalate(w, ann)
        question = next(m for m in w.fake.history(ann) if m.text == OFF_TOPIC)
        await _taken(w, thread, card.callback_data[0])
        await w.fake.wait_for(lambda: question.reactions == [EYES])

        w.fake.operator_sends(w.group, thread, w.olga, "Отвечаю")
        await w.said(ann, "Отвечаю")
        await w.fake.wait_for(
            lambda: bool(question.reactions) and question.reactions[0]["emoji"] in ANSWERED
        )
        assert w.fake.calls("setMessageReaction", ok=False) == []


async def test_the_main_buttons_carry_styles(sqlite_db_url: str, kb: KnowledgeBase) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        w.fake.user_sends(ann, QUESTION)
        answer = await w.said(ann, "пароль")
        styles = {b["callback_data"]: b.get("style") for b in answer.buttons}
        _thread, card = await _escalate(w, w.fake.add_user("Bob"))

        assert next(s for d, s in styles.items() if "fb:ok" in d) == "success"
        assert next(s for d, s in styles.items() if "fb:no" in d) in ("danger", None)
        assert card.buttons[0].get("style") == "primary"
