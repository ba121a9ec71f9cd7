"""Bitrix24's rendering of the engine's events: pure, no database, the same for every chat."""

from __future__ import annotations

from engine_fixtures import case_card

from bot.delivery.outcome import ANSWER
from bot.engine import HandToQueue, Say, TicketClosed, TicketOpened, Undelivered
from bot.payloads import Payload, Press
from bot.replies import Button, Reply
from handlers.bitrix24.replies import (
    HAND_OFF,
    HAND_OFF_KIND,
    NOTE,
    NOTE_KIND,
    SEND,
    BitrixCalls,
    chat_number,
    choices_shown,
    with_bot,
)

WHERE = {"channel": "bitrix24", "conversation_id": "chat7"}
CANCEL = Button("Отменить", Payload(Press.CANCEL, 3).encode())
RATE = Button("5", Payload(Press.RATE, 3, 5).encode())
HELPED = Button("Помогло", Payload(Press.HELPED, 5).encode())
CALLS = BitrixCalls("ru")


def test_a_reply_is_one_message_with_its_own_template_id_and_the_bot_filled_in_at_send() -> None:
    say = Say(**WHERE, reply=Reply(("Ответ",), buttons=(HELPED,)), ticket_id=None)
    [first], [again] = CALLS.render(say), CALLS.render(say)
    assert (first.chat_id, first.method, first.kind) == ("chat7", SEND, ANSWER)
    assert first.params["dialogId"] == "chat7" and "botId" not in first.params
    fields = first.params["fields"]
    assert "1. Помогло" in fields["message"] and "BOT_ID" not in fields["keyboard"]
    assert fields["templateId"] != again.params["fields"]["templateId"]  # one per message
    assert CALLS.choices(say) == [HELPED.payload]
    sent = with_bot(first.params, 9)
    assert (sent["botId"], sent["fields"]["keyboard"]["BOT_ID"]) == (9, 9)
    assert with_bot({**first.params, "botId": 4}, 9)["botId"] == 9  # the bot on the portal now


def test_the_lines_own_buttons_are_neither_shown_nor_numbered_in_any_turn() -> None:
    """Cancel and rating belong to the line's queue, which every ticket is handed to."""
    for button in (CANCEL, RATE):
        say = Say(**WHERE, reply=Reply(("Обращение №3",), buttons=(button,)), ticket_id=3)
        [draft] = CALLS.render(say)
        assert "keyboard" not in draft.params["fields"]
        assert CALLS.choices(say) is None


def test_an_opened_ticket_is_a_note_for_operators_then_the_hand_off() -> None:
    opened = TicketOpened(
        **WHERE, ticket_id=3, notice="Новое", card=case_card(3, "bitrix24", "Не работает телефония")
    )
    note, hand_off = [
        d for e in (opened, HandToQueue(**WHERE, ticket_id=3)) for d in CALLS.render(e)
    ]
    assert {k: note.params["fields"][k] for k in NOTE} == NOTE  # never shown to the customer
    assert "Не работает телефония" in note.params["fields"]["message"]
    assert (note.kind, hand_off.kind) == (NOTE_KIND, HAND_OFF_KIND)  # neither is an answer
    assert (hand_off.method, hand_off.params, hand_off.ticket_id) == (HAND_OFF, {"CHAT_ID": 7}, 3)


def test_the_chat_is_the_events_own_and_operator_notices_render_nothing() -> None:
    other = Say(channel="bitrix24", conversation_id="chat8", reply=Reply(("x",)))
    assert [d.params["dialogId"] for d in CALLS.render(other)] == ["chat8"]
    closed = TicketClosed(**WHERE, ticket_id=3, notice="Закрыто")
    telegram = Say(channel="telegram", conversation_id="chat7", reply=Reply(("x",)))
    assert [CALLS.render(e) for e in (closed, telegram)] == [[], []]


def test_an_undelivered_answer_in_an_open_ticket_is_a_note_for_the_lines_people() -> None:
    """Given up itself, the note hands nothing over again: its kind is not an answer's."""
    undelivered = Undelivered(**WHERE, ticket_id=3, notice="Ответ бота не дошёл: ACCESS_DENIED")
    [note] = CALLS.render(undelivered)
    assert (note.method, note.kind, note.ticket_id) == (SEND, NOTE_KIND, 3)
    assert {k: note.params["fields"][k] for k in NOTE} == NOTE
    assert "ACCESS_DENIED" in note.params["fields"]["message"]


def test_only_an_open_lines_dialog_names_a_chat_to_hand_off() -> None:
    assert [chat_number(d) for d in ("chat12", "12", "chat", "chat1a", "chat١")] == [
        12, None, None, None, None,
    ]  # fmt: skip
    assert CALLS.render(HandToQueue(channel="bitrix24", conversation_id="12", ticket_id=1)) == []


def test_an_action_outside_the_line_leaves_each_chats_last_choices_as_a_statement() -> None:
    """``helpbot operator``'s reply ends the numbered choices an earlier reply showed (a typed
    number no longer means its button): one UPDATE per chat, from the events alone."""
    offer = Say(**WHERE, reply=Reply(("Ответ",), buttons=(HELPED,)), ticket_id=3)
    reply = Say(**WHERE, reply=Reply(("Ответ оператора",)), ticket_id=3)
    elsewhere = Say(channel="telegram", conversation_id="7", reply=Reply(("x",)), ticket_id=4)
    closed = TicketClosed(**WHERE, ticket_id=3, notice="closed", operator="anna")
    (statement,) = choices_shown([offer, reply, elsewhere, closed])
    compiled = statement.compile()
    assert "UPDATE bitrix_chats SET choices" in str(compiled)
    assert list(compiled.params.values()) == [None, "chat7", 7]  # SET choices, WHERE …
    assert "bitrix_chats.chat_id =" in str(compiled)  # the primary key: dialog_id is not indexed
    (offered,) = choices_shown([reply, offer])
    assert [HELPED.payload] in offered.compile().params.values()
    assert choices_shown([elsewhere, closed]) == []
    odd = Say(channel="bitrix24", conversation_id="x9", reply=Reply(("x",)), ticket_id=5)
    (by_dialog,) = choices_shown([odd])  # no number in the dialog id: the dialog alone
    assert list(by_dialog.compile().params.values()) == [None, "x9"]
