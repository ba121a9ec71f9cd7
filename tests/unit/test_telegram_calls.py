"""Telegram's rendering of the engine's events: pure, so checked without a database or a bot."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from engine_fixtures import case_card

from bot.cases import CaseCard, CaseLine
from bot.delivery.outcome import ANSWER
from bot.engine import (
    HandToQueue,
    Relayed,
    Say,
    TicketClosed,
    TicketOpened,
    TicketTaken,
)
from bot.replies import Reply
from handlers.telegram.calls import CARD, CARD_EDIT, CopySource, TelegramCalls
from handlers.telegram.reactions import QUESTION_OF, REACTION

GROUP = -1001
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WHERE = {"channel": "telegram", "conversation_id": "42"}


def _card(lines: int = 3) -> CaseCard:
    said = tuple(CaseLine(NOW, "person", f"строка {n}") for n in range(lines))
    return case_card(7, "telegram", "Не могу войти", said)


def _calls(group: int | None = GROUP) -> TelegramCalls:
    return TelegramCalls(operator_chat_id=group, operator_language="ru")


def test_a_reply_to_the_person_is_html_send_message() -> None:
    [draft] = _calls().render(Say(**WHERE, reply=Reply(("a < b",), title="Ответ")))
    assert (draft.chat_id, draft.method, draft.to_topic) == ("42", "sendMessage", False)
    assert draft.params["text"] == "<b>Ответ</b>\n\na &lt; b"


def test_another_channels_event_renders_nothing() -> None:
    event = Say(channel="bitrix24", conversation_id="chat1", reply=Reply(("hi",)))
    assert _calls().render(event) == []


def test_an_opened_ticket_is_its_card_in_a_new_topic_with_take() -> None:
    event = TicketOpened(**WHERE, ticket_id=7, notice="Новое обращение", card=_card())
    drafts = _calls().render_all([event, HandToQueue(**WHERE, ticket_id=7)])
    assert [(d.chat_id, d.method, d.kind, d.to_topic) for d in drafts] == [
        (str(GROUP), "sendMessage", CARD, True)
    ]  # no card edit: the card is new
    assert "Не могу войти" in drafts[0].params["text"]
    assert "reply_markup" in drafts[0].params  # «Взять»


def test_a_long_transcript_is_cut_to_keep_the_card_one_message() -> None:
    [draft] = _calls().card(_card(lines=400))
    assert len(draft.params["text"]) < 4096


def test_a_take_is_a_notice_an_eyes_reaction_and_one_card_edit() -> None:
    taken = TicketTaken(**WHERE, ticket_id=7, notice="Взял anna", operator="anna")
    said = Say(**WHERE, reply=Reply(("Оператор anna",)), ticket_id=7, operator="anna")
    drafts = _calls().render_all([said, taken])
    assert [(d.method, d.kind) for d in drafts] == [
        ("sendMessage", ANSWER),  # to the person: handed to the operators if given up
        ("sendMessage", ""),
        ("setMessageReaction", REACTION),
        ("editMessageText", CARD_EDIT),
    ]
    reaction = drafts[2]
    assert (reaction.chat_id, reaction.params[QUESTION_OF]) == ("42", 7)
    assert reaction.params["reaction"] == [{"type": "emoji", "emoji": "👀"}]


def test_only_the_first_operator_reply_puts_a_reaction() -> None:
    def reply(first: bool) -> Say:
        return Say(**WHERE, reply=Reply(("ok",)), ticket_id=7, operator="anna", first_reply=first)

    assert [d.kind for d in _calls().render(reply(True))].count(REACTION) == 1
    assert REACTION not in [d.kind for d in _calls().render(reply(False))]


def test_a_relayed_media_message_is_copied_into_the_topic() -> None:
    event = Relayed(**WHERE, ticket_id=7, message_id=3, text="")
    [copy, _edit] = _calls().render(event, CopySource(42, 900))
    assert (copy.chat_id, copy.method, copy.to_topic) == (str(GROUP), "copyMessage", True)
    assert copy.params == {"from_chat_id": 42, "message_id": 900}
    assert _calls().render(event)[:-1] == []  # no text and nothing to copy: only the edit


def test_a_close_posts_its_notice_and_closes_the_topic() -> None:
    event = TicketClosed(**WHERE, ticket_id=7, notice="Закрыто", operator="anna")
    drafts = _calls().render(event)
    assert [d.method for d in drafts] == ["sendMessage", "closeForumTopic", "editMessageText"]
    assert all(d.to_topic for d in drafts[:2])


def test_without_an_operators_group_ticket_events_stay_off_telegram() -> None:
    opened = TicketOpened(**WHERE, ticket_id=7, card=_card())
    closed = TicketClosed(**WHERE, ticket_id=7, notice="Закрыто")
    assert _calls(None).render_all([opened, closed]) == []


def test_the_operator_commands_lazy_render_is_render_all_once_made_and_refuses_before() -> None:
    # `helpbot operator` with Telegram not configured imports aiogram (~3.5 s of CPU) only for
    # an action with an event on a Telegram conversation; for others' it renders nothing, as
    # render_all does. Given one before it is made, it refuses: it runs in the action's
    # transaction, which is rolled back and run again once the import is made outside it
    from handlers.cli.operator import _TelegramRender, _Unmade

    taken = TicketTaken(**WHERE, ticket_id=7, notice="Взял anna", operator="anna")
    said = Say(**WHERE, reply=Reply(("Оператор anna",)), ticket_id=7, operator="anna")
    elsewhere = {"channel": "bitrix24", "conversation_id": "chat1"}
    other = [Say(**elsewhere, reply=Reply(("hi",)), ticket_id=3, operator="anna")]
    other.append(TicketTaken(**elsewhere, ticket_id=3, notice="Взял anna", operator="anna"))
    for group in (GROUP, None):
        lazy = _TelegramRender(group, "ru")
        assert lazy.channel == "telegram"
        assert lazy(other) == [] == _calls(group).render_all(other)
        assert lazy._render is None  # nothing made for another channel's events
        with pytest.raises(_Unmade):
            lazy([*other, said])
        assert lazy._render is None
        lazy.make()
        assert lazy([said, taken]) == _calls(group).render_all([said, taken]) != []
        assert lazy._render is not None
        assert lazy(other) == []
