"""Everyday short questions in common words are answered or offered as a choice, never escalated.

Regression: weighing how rare the shared words are escalated "как создать сделку", because
every word of it is common in the knowledge base.
"""

from __future__ import annotations

import pytest

from knowledge.base import KnowledgeBase
from knowledge.model import Action

COMMON = (
    "как создать сделку",
    "как добавить сотрудника",
    "как удалить контакт",
    "как поставить задачу",
    "как сменить пароль",
    "как подключить почту",
    "как пригласить коллегу",
    "как настроить права доступа",
)


@pytest.mark.parametrize("question", COMMON)
def test_everyday_question_is_not_escalated(kb: KnowledgeBase, question: str) -> None:
    decision = kb.decide(question)
    assert decision.action in (Action.ANSWER, Action.CLARIFY), decision.confidence


@pytest.mark.parametrize(
    ("question", "title"),
    [
        # regression: "domen" also reads as a Latin word of the Romanian guide, and was kept
        ("kak podklyuchit svoy domen", "Как изменить адрес Битрикс24 или подключить свой домен"),
        ("rfr cjplfnm cltkre", "Сделки: что это и как с ними работать"),  # wrong layout
    ],
)
def test_messy_everyday_question_reaches_its_article(
    kb: KnowledgeBase, question: str, title: str
) -> None:
    decision = kb.decide(question)
    assert decision.action in (Action.ANSWER, Action.CLARIFY)
    assert decision.matches[0].entry.title == title  # answered, or the first of the choices


@pytest.mark.parametrize(
    ("question", "title"),
    [
        (
            # «structure» meets only the Romanian guide («Crearea structurii companiei»
            # among others) by a Latin stem shared by chance: it weighs by its rarity among
            # the Romanian entries (Index.asked_idf), and the Russian terms lead.
            "where is the company structure chart",
            "Структура компании, должности и сотрудники",
        ),
        (
            "our team finds the interface too complicated, how long does training take",
            "Возражение №1: Сложный интерфейс и крутая кривая обучения",
        ),
    ],
)
def test_an_english_question_reaches_the_russian_article_through_the_glossary(
    kb: KnowledgeBase, question: str, title: str
) -> None:
    reading = kb.read(question)
    assert any(r.kind == "glossary" for r in reading.query.repairs)
    assert kb.entries[reading.ranked[0].doc].title == title


def test_a_latin_question_without_marker_words_keeps_the_romanian_guides_weight(
    kb: KnowledgeBase,
) -> None:
    # «tarif gratuit» is read as English by default, yet it is Romanian without diacritics: its
    # words keep their rarity in the whole corpus and it still reaches the guide.
    reading = kb.read("tarif gratuit")
    assert reading.query.lang == "en" and reading.query.marked == ""
    assert kb.entries[reading.ranked[0].doc].title == "Versiuni și planuri tarifare"
    assert kb.read("where is the company structure chart").query.marked == "en"
