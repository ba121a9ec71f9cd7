"""Replies and payloads: what a Decision looks like to a person; payloads fit callback data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.payloads import MAX_PAYLOAD_BYTES, Payload, Press, decode
from bot.replies import choose_language, compose, render_plain
from bot.texts import LANGUAGES, PHRASES
from handlers.telegram.texts import TELEGRAM_PHRASES
from knowledge.model import Action, Answer, Decision, Entry, Link, Match

ENTRY = Entry(id="a" * 120, title="Как добавить сделку", source="crm.md", path="CRM > Сделки")
OTHER = Entry(id="b", title="Как удалить сделку", source="crm.md")


@given(
    st.sampled_from(list(Press)),
    st.integers(min_value=0, max_value=10**18 - 1),
    st.integers(min_value=0, max_value=999),
)
def test_payloads_round_trip_and_fit_telegram_callback_data(
    press: Press, ref: int, index: int
) -> None:
    payload = Payload(press, ref, index if press in (Press.PICK, Press.RATE) else 0)
    encoded = payload.encode()
    assert len(encoded.encode()) <= MAX_PAYLOAD_BYTES
    assert decode(encoded) == payload


@given(st.text(max_size=80))
def test_foreign_payloads_never_raise(text: str) -> None:
    decoded = decode(text)
    assert decoded is None or isinstance(decoded, Payload)


def test_answer_has_title_path_links_and_three_buttons() -> None:
    answer = Answer(ENTRY, ("Откройте CRM.",), ENTRY.path, (Link("Справка", "https://x/1"),))
    reply = compose(Decision(Action.ANSWER, (Match(ENTRY, 0.9),), answer), "ru", 12)
    assert reply.title == ENTRY.title and "Где: CRM > Сделки" in reply.blocks
    assert [b.payload for b in reply.buttons] == ["fb:ok:12", "fb:no:12", "op:12"]
    text = render_plain(reply)
    assert "Справка: https://x/1" in text and "[2] Не помогло" in text


def test_clarify_lists_the_choices_then_the_operator() -> None:
    decision = Decision(Action.CLARIFY, (Match(ENTRY, 0.5), Match(OTHER, 0.4)), lang="en")
    reply = compose(decision, "en", 7)
    assert reply.blocks[0] == PHRASES["clarify_intro"]["en"]
    assert [(b.label, b.payload) for b in reply.buttons] == [
        (ENTRY.title, "pick:7:0"),
        (OTHER.title, "pick:7:1"),
        ("None of these", "op:7"),  # hands the question to an operator
    ]


def test_without_a_message_id_buttons_carry_no_payload() -> None:
    reply = compose(Decision(Action.ESCALATE), "ro")
    assert reply.blocks == (PHRASES["escalate"]["ro"],) and reply.buttons[0].payload == ""


def test_small_talk_by_kind_and_an_unknown_kind_greets() -> None:
    for kind in ("greeting", "thanks", "bot", "bye", "ack"):
        reply = compose(Decision(Action.SMALLTALK, smalltalk=kind), "en")
        assert reply.blocks == (PHRASES[f"smalltalk_{kind}"]["en"],)
    odd = compose(Decision(Action.SMALLTALK, smalltalk="weather"), "ru")
    assert odd.blocks == (PHRASES["smalltalk_greeting"]["ru"],)


def test_language_choice() -> None:
    assert choose_language("en-GB", "ru", "ru") == "en"
    assert choose_language("de", "ro", "ru") == "ro"
    assert choose_language("", None, "en") == "en"
    assert choose_language(None, "xx", "zz") == "ru"


@pytest.mark.parametrize("catalogue", [PHRASES, TELEGRAM_PHRASES], ids=["bot", "telegram"])
def test_every_phrase_exists_in_every_language(catalogue: dict[str, dict[str, str]]) -> None:
    for key, variants in catalogue.items():
        assert set(variants) == set(LANGUAGES), key
        fields = [sorted(_fields(v)) for v in variants.values()]
        assert all(f == fields[0] for f in fields), key


def _fields(template: str) -> set[str]:
    import string

    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
