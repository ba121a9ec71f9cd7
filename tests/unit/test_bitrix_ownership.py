"""Who holds an open-line session (the bot's one decision), offsets, typed choices, markup."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from bot.replies import Button, Reply
from handlers.bitrix24.events import ChatEvent
from handlers.bitrix24.models import BitrixChat
from handlers.bitrix24.ownership import judge
from handlers.bitrix24.poller import offset_after
from handlers.bitrix24.processor import _typed_choice
from handlers.bitrix24.render import choices, escape, render

BOT = 9
CUSTOMER = ChatEvent(
    kind="message",
    key="msg:1",
    bot_id=BOT,
    chat_id=7,
    dialog_id="chat7",
    entity_type="LINES",
    session_id="42",
    user_id="55",
    user_name="Ion",
    from_customer=True,
    text="Как сменить пароль?",
    owner=BOT,
)


def _chat(session: str = "42", handed: str | None = None) -> BitrixChat:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    return BitrixChat(
        chat_id=7, dialog_id="chat7", bot_id=BOT, session_id=session, handed_session=handed,
        updated_at=now,
    )  # fmt: skip


def test_the_bot_answers_its_customer_in_its_own_session() -> None:
    assert judge(CUSTOMER, _chat()).speaks


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"owner": 0}, "the chat is with the line's queue"),
        ({"owner": 300}, "the chat is with user 300"),
        ({"from_customer": False, "user_id": "300"}, "an operator wrote in the session"),
        ({"text": " 0 "}, "a bare 0 hands the chat to the line's queue"),
    ],
)
def test_a_session_someone_else_holds_silences_the_bot(change: dict[str, object], why: str) -> None:
    event = dataclasses.replace(CUSTOMER, **change)  # type: ignore[arg-type]
    verdict = judge(event, _chat())
    assert (verdict.speaks, verdict.why, verdict.taken) == (False, why, True)
    assert verdict.to_line == event.from_customer  # the customer's word to the line is kept


def test_the_customers_word_in_a_handed_session_is_for_the_lines_history() -> None:
    verdict = judge(CUSTOMER, _chat(handed="42"))
    assert (verdict.speaks, verdict.taken, verdict.to_line) == (False, False, True)
    assert not judge(CUSTOMER, _chat()).to_line  # the bot's own session: it answers instead


def test_a_session_handed_over_stays_silent_and_a_new_one_is_the_bots() -> None:
    assert judge(CUSTOMER, _chat(handed="42")).why == "the line's operators have the chat"
    # A session never seen is the bot's whoever the portal names as owner (live checks §3).
    fresh = dataclasses.replace(CUSTOMER, session_id="43", owner=0)
    assert judge(fresh, _chat(handed="42")).speaks
    assert judge(dataclasses.replace(CUSTOMER, owner=None), _chat()).speaks  # owner not sent


def test_bots_and_other_chats_are_ignored_without_taking_the_session() -> None:
    for change in ({"from_customer": False, "from_bot": True}, {"entity_type": "CHAT"}):
        verdict = judge(dataclasses.replace(CUSTOMER, **change), _chat())  # type: ignore[arg-type]
        assert not verdict.speaks and not verdict.taken


def test_the_offset_reads_next_offset_then_last_event_id_then_the_largest_event_id() -> None:
    events = [{"eventId": 5}, {"eventId": 9}]
    assert offset_after({"events": events, "nextOffset": 10}, events) == 10
    assert offset_after({"events": events, "lastEventId": 9}, events) == 10
    assert offset_after({"events": events, "hasMore": False}, events) == 10
    assert offset_after({"events": [], "lastEventId": 4}, []) == 0  # an empty page moves nothing


def test_choices_are_numbered_from_one_and_a_typed_number_picks_one() -> None:
    reply = Reply(("Возможно:",), buttons=(Button("A [b]", "p:1"), Button("B", "p:2"), Button("x")))
    text = render(reply, lang="en")["message"]
    assert "1. A [\u200bb]\n2. B\nReply with the number of your choice." in text
    shown = choices(reply)
    assert shown == ["p:1", "p:2"]
    assert [_typed_choice(t, shown) for t in ("2", " 1. ", "0", "3", "два", "²")] == [
        "p:2", "p:1", "", "", "", "",
    ]  # fmt: skip


def test_article_markup_is_disarmed() -> None:
    dashes = "-" * 60
    text = escape(f">>цитата #BR# {dashes} [URL=x]y[/URL] [dialog=1]")
    assert ">>" not in text and "#BR#" not in text and "-" * 54 not in text
    assert "[URL" not in text and "[dialog" not in text
    assert text.replace("\u200b", "") == f">>цитата #BR# {dashes} [URL=x]y[/URL] [dialog=1]"
