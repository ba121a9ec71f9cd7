"""Bitrix24's rendering of the engine's events in one open-line chat: pure, no database."""

from __future__ import annotations

from engine_fixtures import case_card

from bot.engine import HandToQueue, Say, TicketClosed, TicketOpened
from bot.payloads import Payload, Press
from bot.replies import Button, Reply
from handlers.bitrix24.replies import HAND_OFF, NOTE, SEND, BitrixCalls

WHERE = {"channel": "bitrix24", "conversation_id": "chat7"}
CANCEL = Button("Отменить", Payload(Press.CANCEL, 3).encode())
HELPED = Button("Помогло", Payload(Press.HELPED, 5).encode())


def _calls(drop: frozenset[str] = frozenset()) -> BitrixCalls:
    return BitrixCalls("chat7", 7, 9, "ru", drop)


def test_a_reply_is_one_message_with_its_own_template_id_and_the_bots_keyboard() -> None:
    say = Say(**WHERE, reply=Reply(("Ответ",), buttons=(HELPED,)), ticket_id=None)
    [first], [again] = _calls().render(say), _calls().render(say)
    assert (first.chat_id, first.method) == ("chat7", SEND)
    assert (first.params["botId"], first.params["dialogId"]) == (9, "chat7")
    fields = first.params["fields"]
    assert "1. Помогло" in fields["message"] and fields["keyboard"]["BOT_ID"] == 9
    assert fields["templateId"] != again.params["fields"]["templateId"]  # one per message
    assert _calls().choices(say) == [HELPED.payload]


def test_dropped_buttons_are_neither_shown_nor_numbered() -> None:
    say = Say(**WHERE, reply=Reply(("Обращение №3",), buttons=(CANCEL,)), ticket_id=3)
    [draft] = _calls(frozenset({Press.CANCEL.value})).render(say)
    assert "keyboard" not in draft.params["fields"]
    assert _calls(frozenset({Press.CANCEL.value})).choices(say) is None


def test_an_opened_ticket_is_a_note_for_operators_then_the_hand_off() -> None:
    opened = TicketOpened(
        **WHERE, ticket_id=3, notice="Новое", card=case_card(3, "bitrix24", "Не работает телефония")
    )
    note, hand_off = [
        d for e in (opened, HandToQueue(**WHERE, ticket_id=3)) for d in _calls().render(e)
    ]
    assert {k: note.params["fields"][k] for k in NOTE} == NOTE  # never shown to the customer
    assert "Не работает телефония" in note.params["fields"]["message"]
    assert (hand_off.method, hand_off.params, hand_off.ticket_id) == (HAND_OFF, {"CHAT_ID": 7}, 3)


def test_other_chats_and_operator_notices_render_nothing() -> None:
    other = Say(channel="bitrix24", conversation_id="chat8", reply=Reply(("x",)))
    closed = TicketClosed(**WHERE, ticket_id=3, notice="Закрыто")
    telegram = Say(channel="telegram", conversation_id="chat7", reply=Reply(("x",)))
    assert [_calls().render(e) for e in (other, closed, telegram)] == [[], [], []]
