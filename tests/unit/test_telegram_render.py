"""Telegram rendering (escaped HTML, splitting, keyboards) and the send-rate bucket."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup

from bot.replies import Button, Reply
from handlers.telegram.callbacks import PressData, TakeData
from handlers.telegram.inbox import _chat_key
from handlers.telegram.render import (
    LIMIT,
    keyboard_params,
    markup_params,
    message_params,
    render,
)
from handlers.telegram.sender import Bucket
from knowledge.model import Link


def test_text_is_escaped_and_the_title_bold() -> None:
    [html] = render(
        Reply(("a < b & c > d",), title="<T&C>", links=(Link("x<y", 'https://e.x/?a=1&b="2"'),))
    )
    assert html.startswith("<b>&lt;T&amp;C&gt;</b>\n\n")
    assert "a &lt; b &amp; c &gt; d" in html
    assert '<a href="https://e.x/?a=1&amp;b=&quot;2&quot;">x&lt;y</a>' in html


def test_long_replies_are_split_between_blocks_and_inside_huge_ones() -> None:
    blocks = ("word " * 700, "& " * 3000, "tail")
    parts = render(Reply(blocks, title="T"))
    assert len(parts) >= 3
    for part in parts:
        visible = part.replace("&amp;", "&").replace("<b>", "").replace("</b>", "")
        assert len(visible) <= LIMIT
        assert part.count("<b>") == part.count("</b>")
    assert "".join(parts).replace("\n", " ").split().count("tail") == 1


def test_blank_blocks_are_left_out_and_a_blank_reply_is_never_an_empty_text() -> None:
    # A text of blanks only is refused once parsed ("text must be non-empty", TDLib).
    assert render(Reply((" ", "Ответ", "\n\t"), "  ")) == ["Ответ"]
    assert render(Reply(("  ",))) == ["…"]
    (params,) = message_params(Reply(("   ",), buttons=(Button("Да", "fb:ok:1"),)))
    assert params["text"] == "…" and "reply_markup" in params


def test_splitting_counts_utf16_units() -> None:
    parts = render(Reply(("😀" * 3000,)))  # each emoji is two UTF-16 units
    assert len(parts) == 2
    assert all(len(p.encode("utf-16-le")) // 2 <= LIMIT for p in parts)


def test_keyboard_goes_on_the_last_part_only_and_fits_64_bytes() -> None:
    buttons = (Button("Помогло", "fb:ok:123456789012345678"), Button("nothing"))
    params = message_params(Reply(("x" * 5000,), buttons=buttons))
    assert len(params) == 2 and "reply_markup" not in params[0]
    [[button]] = params[-1]["reply_markup"]["inline_keyboard"]
    assert len(button["callback_data"].encode()) <= 64
    assert PressData.unpack(button["callback_data"]).payload == "fb:ok:123456789012345678"


def test_helped_is_a_success_button_and_the_others_keep_the_apps_look() -> None:
    """Bot API 9.4 `style` (aiogram 3.31 InlineKeyboardButton): primary, success or danger."""
    params = keyboard_params((Button("Помогло", "fb:ok:1"), Button("Не помогло", "fb:no:1")))
    assert params is not None
    markup = InlineKeyboardMarkup.model_validate(params)
    assert [b.style for row in markup.inline_keyboard for b in row] == ["success", None]


def test_a_keyboards_json_is_the_models_dump() -> None:
    sets = [
        (),
        (Button("Помогло", "fb:ok:1"), Button("Не помогло", "fb:no:1")),
        tuple(Button(str(n), f"rate:7:{n}") for n in range(1, 6)),
        (Button("1", "rate:7:1"), Button("Оператор", "op:1"), Button("2", "rate:7:2")),
        (Button("Без нажатия", ""), Button("Статья", "kb:0:entry-1")),
    ]
    assert keyboard_params(sets[0]) is None
    for buttons in sets[1:]:
        params = keyboard_params(buttons)
        assert params is not None
        assert markup_params(InlineKeyboardMarkup.model_validate(params)) == params, buttons


def test_inbox_orders_a_forum_topic_apart_from_its_group() -> None:
    """A topic's messages and presses share a key of their own; other messages of the group
    (General, or a non-forum reply thread) share the group's."""
    group = {"id": -1001, "type": "supergroup"}
    in_topic = {"chat": group, "message_thread_id": 7, "is_topic_message": True}
    keys = [
        _chat_key({"update_id": 1, "message": in_topic}),
        _chat_key({"update_id": 2, "callback_query": {"from": {"id": 5}, "message": in_topic}}),
        _chat_key({"update_id": 3, "message": {**in_topic, "message_thread_id": 8}}),
        _chat_key({"update_id": 4, "message": {"chat": group, "message_thread_id": 7}}),
        _chat_key({"update_id": 5, "message": {"chat": group}}),
    ]
    assert keys == ["chat:-1001/7", "chat:-1001/7", "chat:-1001/8", "chat:-1001", "chat:-1001"]


def test_rating_buttons_share_a_row() -> None:
    markup = keyboard_params(tuple(Button(str(n), f"rate:7:{n}") for n in range(1, 6)))
    assert markup is not None and len(markup["inline_keyboard"]) == 1


def test_callback_data_round_trips() -> None:
    data: CallbackData = TakeData(ticket=42)
    assert TakeData.unpack(data.pack()).ticket == 42


def test_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = Bucket(rate=2.0, burst=3, now=0.0)
    for _ in range(3):
        assert bucket.delay(0.0) == 0
        bucket.take(0.0)
    assert bucket.delay(0.0) == 0.5
    assert bucket.delay(0.5) == 0 and not bucket.full(0.5)
    assert bucket.full(10.0)
