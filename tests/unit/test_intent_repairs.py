"""A request for a human or small talk typed in transliteration, with the other keyboard
layout or with a typo is recognised like the same words typed right; a question typed that way
stays a question, asserted on the intent reader (:meth:`KnowledgeBase.read`) itself."""

from __future__ import annotations

import pytest

from knowledge import intents
from knowledge.base import KnowledgeBase
from knowledge.intents import OPERATOR, IntentReader
from knowledge.model import Action
from knowledge.resources import read_data_lines


@pytest.mark.parametrize(
    "text",
    [
        "svyazhite s operatorom pozhaluysta",  # transliteration
        "soedinite so specialistom",
        "gjpjdbnt jgthfnjhf",  # «позовите оператора» with the Latin layout on
        "опертор нужен",  # a typo in whom one asks for
        "позовите оператра",
    ],
)
def test_a_misread_request_for_a_human_is_a_request(kb: KnowledgeBase, text: str) -> None:
    assert kb.decide(text).action is Action.OPERATOR


def test_a_misread_greeting_is_small_talk(kb: KnowledgeBase) -> None:
    assert kb.decide("ghbdtn").action is Action.SMALLTALK  # «привет», Latin layout


@pytest.mark.parametrize(
    "text",
    [
        "kak dobavit operatora v otkrytuyu liniyu",
        "как добавить опертора в открытую линию",
        "rfr ljfdbnm jgthfnjhf d jnrhsne. kbyb.",  # the same, Latin layout
    ],
)
def test_a_misread_question_about_operators_stays_a_question(kb: KnowledgeBase, text: str) -> None:
    assert kb.read(text).intent.kind == ""  # neither a request nor small talk


@pytest.mark.parametrize(
    "text",
    [
        "позавите аператора",  # unstressed vowels spelt as heard
        "соеденити с оператаром",
        "дайте жевого человека",
        "vreau operatr",  # a letter dropped, Romanian
        "can I talk to a huamn",  # two letters swapped, English
    ],
)
def test_a_request_spelt_with_a_slip_is_a_request(kb: KnowledgeBase, text: str) -> None:
    assert kb.decide(text).action is Action.OPERATOR


@pytest.mark.parametrize(
    "text",
    [
        # A dictionary word is never respelt: the infinitive is not the imperative.
        "как пригласить нового сотрудника",
        "как переключить ответственного менеджера в сделке",
        # Asking how to set the product up, whoever it names.
        "how do I make the bot hand over chats to a human operator in my open line",
    ],
)
def test_a_question_near_a_request_stays_a_question(kb: KnowledgeBase, text: str) -> None:
    assert kb.read(text).intent.kind != OPERATOR


def test_asking_about_the_bot_then_for_a_human_is_a_request(kb: KnowledgeBase) -> None:
    assert kb.decide("ты бот? переключи на человека").action is Action.OPERATOR
    assert kb.decide("ты человек или программа?").action is Action.SMALLTALK


def test_a_greeting_before_a_request_leaves_it_a_request(kb: KnowledgeBase) -> None:
    assert kb.decide("алло, люди есть?").action is Action.OPERATOR


def test_the_problem_beside_a_request_with_a_slip_is_told_apart(kb: KnowledgeBase) -> None:
    text = "у меня не сохраняется сделка, позавите аператора"
    assert kb.decide(text).action is Action.OPERATOR
    assert kb.problem_in(text) == "у меня не сохраняется сделка"
    assert kb.problem_in("позавите аператора") == ""


def test_intents_txt_is_parsed_once_for_its_patterns_and_its_spellings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read: list[str] = []

    def reading(name: str) -> tuple[str, ...]:
        read.append(name)
        return read_data_lines(name)

    monkeypatch.setattr(intents, "read_data_lines", reading)
    reader = IntentReader(frozenset())
    assert read == ["intents.txt"]
    assert reader.read("позавите аператора").kind == intents.OPERATOR  # the spellings are there
