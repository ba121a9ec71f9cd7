"""A Bitrix24 reply over the portal's limit (``Message::MESSAGE_MAX_LENGTH``, 20,000 characters,
past which the portal cuts anywhere) is shortened on a safe boundary, never inside a tag."""

from __future__ import annotations

import re

import pytest

from bot.replies import Button, Link, Reply
from handlers.bitrix24.render import MAX_TEXT, render

URL = "https://helpdesk.bitrix24.ru/open/17000000/"
_TAGS = re.compile(r"\[(/?)(b|url)(?:=[^\]]*)?\]")


def _balanced(text: str) -> bool:
    """Every [b] and [url=…] opened is closed, in order, and no tag is cut at the end."""
    open_tags: list[str] = []
    for match in _TAGS.finditer(text):
        closing, name = match.groups()
        if not closing:
            open_tags.append(name)
        elif not open_tags or open_tags.pop() != name:
            return False
    tail = text[text.rfind("[") :] if "[" in text else ""
    return not open_tags and (not tail or "]" in tail or "\u200b" in tail[:2])


def _words(count: int) -> str:
    return " ".join(f"слово{n}" for n in range(count))


@pytest.mark.parametrize("prose", [0, 19_950, 19_990, 25_000])
def test_a_long_reply_keeps_its_links_and_choices_whole(prose: int) -> None:
    # Before: the text was cut at 20,000 wherever that fell, here inside [url=…] (or after it,
    # losing the numbered choices the customer types).
    reply = Reply(
        (_words(prose // 8),) if prose else (),
        "Заголовок",
        (Link("Статья", URL), Link("Другая", URL + "2")),
        (Button("Да", "yes"), Button("Нет", "no")),
    )
    text = render(reply)["message"]
    assert len(text) <= MAX_TEXT and _balanced(text)
    assert f"[url={URL}]Статья[/url]" in text and f"[url={URL}2]Другая[/url]" in text
    assert "1. Да\n2. Нет" in text


def test_prose_is_shortened_at_a_word_with_an_ellipsis() -> None:
    text = render(Reply((_words(4000), "второй абзац " * 100), links=(Link("Статья", URL),)))[
        "message"
    ]
    body = text.split("\n\n")[0]
    assert body.endswith("…") and not body[:-1].endswith(" ")
    assert _words(4000).startswith(body[:-1]) and _words(4000)[len(body) - 1] == " "
    assert text.endswith(f"[url={URL}]Статья[/url]")


def test_a_huge_title_or_link_text_is_shortened_inside_its_tag() -> None:
    huge = "Очень длинный заголовок " * 2000
    text = render(Reply(("Ответ",), huge, (Link(huge, URL),)))["message"]
    assert len(text) < 2000 and _balanced(text)
    assert text.startswith("[b]Очень длинный") and "…[/b]" in text
    assert f"[url={URL}]Очень длинный" in text and text.endswith("…[/url]")


def test_links_that_cannot_fit_are_left_out_whole() -> None:
    links = tuple(Link(f"Статья {n}", f"{URL}{n}?" + "x" * 400) for n in range(100))
    text = render(Reply(("Ответ",), "Т", links))["message"]
    assert len(text) <= MAX_TEXT and _balanced(text)
    shown = text.count("[url=")
    assert 0 < shown < 100 and shown == text.count("[/url]")
