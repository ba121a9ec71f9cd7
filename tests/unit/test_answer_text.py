"""The first answer reads as an answer: the passage asked about, whole, with its own menu path."""

from __future__ import annotations

import pytest

from bot.replies import compose
from knowledge.analyzer import Analyzer
from knowledge.answer import MAX_ANSWER_CHARS, build_answer, gives_path
from knowledge.base import KnowledgeBase
from knowledge.model import Action, Answer, Decision, Entry, Match

INVITE = Entry(
    id="invite",
    title="Как пригласить сотрудников в Битрикс24",
    source="t",
    url="https://helpdesk.bitrix24.ru/open/17726876/",
    summary="Пригласить сотрудников можно по ссылке, по почте или по номеру телефона.\n"
    "Приглашение принимают по ссылке из письма или СМС.",
    body="Пригласить в Битрикс24 можно неограниченное количество пользователей.\n"
    "По умолчанию приглашать сотрудников могут все пользователи. Администратор может выключить "
    "эту возможность в разделе Сотрудники > Структура компании > Права доступа\n"
    "Пригласить по ссылке\n"
    "Откройте виджет Пригласить и выберите Приглашение по ссылке.\n"
    "Можно включить дополнительные настройки:\n"
    "• Запрашивать подтверждение администратора на вход.\n"
    "• Разрешить вход без подтверждения для доменов.\n"
    "Массовое приглашение\n"
    "Чтобы пригласить сразу много сотрудников, откройте Сотрудники > Пригласить > Массово и "
    "введите номера телефонов через пробел.\n"
    "Счетчики приглашений\n"
    "Счетчик Приглашены показывает, сколько пользователей еще не приняли приглашение.",
)
ROLES = Entry(
    id="roles",
    title="Как настроить права доступа к CRM-формам",
    source="t",
    body="Настраивать права может администратор.\n"
    "Путь: CRM > Продажи > CRM-формы > Настройки > Права доступа\n"
    "Роль — это набор прав доступа, который присвоен пользователю.\n"
    "Скопировать роль\n"
    "1. Нажмите Скопировать роль.\n"
    "2. Выберите роль, которую хотите скопировать.\n"
    "3. В новую роль скопируются все настройки прав.\n"
    "Удалить роль\n"
    "Нажмите Удалить и подтвердите удаление.",
)
MAIL = Entry(
    id="mail",
    title="7. Интеграция с почтой",
    source="manual.txt",
    kind="section",
    breadcrumb=("Методическое пособие для администраторов", "Работа с клиентами"),
    body="Почту подключают к CRM, чтобы вся переписка с клиентом хранилась в карточке.\n\n"
    "На странице CRM – Настройки – Интеграция с почтой подключите почтовый ящик компании.\n\n"
    "Порт — указывается порт, по которому идет передача сообщений (при SSL это 995).",
)
SCRAPED = Entry(
    id="2fa",
    title="Как включить двухфакторную аутентификацию",
    source="t",
    body="Администратор включает двухфакторную аутентификацию сначала для себя, потом для "
    "сотрудников. Перейдите в личный профиль. Нажмите\n"
    "Выберите «Обязательно для всех».",
)
ENTRIES = (INVITE, ROLES, MAIL, SCRAPED)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase(ENTRIES, analyzer=Analyzer())


def text_of(answer: Answer) -> str:
    return "\n".join(answer.blocks)


def test_a_specific_question_gets_its_passage_not_the_summary(kb: KnowledgeBase) -> None:
    answer = kb.answer_for("invite", "как пригласить сразу много сотрудников массово")
    assert text_of(answer).startswith("Массовое приглашение\nЧтобы пригласить сразу много")
    assert "Счетчик" not in text_of(answer)  # the next topic is not dragged in


def test_a_general_question_gets_the_summary(kb: KnowledgeBase) -> None:
    answer = kb.answer_for("invite", "как пригласить сотрудников")
    assert text_of(answer) == INVITE.summary


PASSWORD = Entry(
    id="password",
    title="Как восстановить пароль",
    source="t",
    summary="Если вы забыли пароль, его можно восстановить.\n"
    "Используйте для хранения паролей специальные сервисы.\n"
    "В облачной версии восстановить пароль можно по e-mail, номеру телефона или через "
    "администратора.\n"
    "В коробочной версии восстановить пароль можно по e-mail или через администратора.",
    body="Восстановить пароль по e-mail\nНажмите Не помню пароль на странице входа.",
)


def test_an_aside_of_the_summary_does_not_come_between_its_lead_and_its_answer() -> None:
    # regression: «как восстановить пароль» read «…можно восстановить. / Используйте для
    # хранения паролей специальные сервисы. / В облачной версии…»
    kb = KnowledgeBase([PASSWORD], analyzer=Analyzer())
    text = text_of(kb.answer_for("password", "как восстановить пароль"))
    assert "специальные сервисы" not in text
    assert text.split("\n") == [PASSWORD.summary.split("\n")[n] for n in (0, 2, 3)]
    # asked about, the advice is the answer; asked nothing, the summary stays whole
    asked = text_of(kb.answer_for("password", "где хранить пароли, какие сервисы"))
    assert "Используйте для хранения паролей специальные сервисы." in asked
    assert text_of(kb.answer_for("password")) == PASSWORD.summary


@pytest.mark.parametrize(
    ("summary", "question"),
    [
        # too short without its aside: the summary stays as its author wrote it
        (
            "Общий чат — это чат для всех сотрудников.\nИспользуйте общий чат для объявлений.",
            "что такое общий чат для сотрудников",
        ),
        # a list's items, in the imperative, are the summary's content, not asides
        (
            "Канбан показывает сделки компании по стадиям, его настраивают под процесс "
            "отдела продаж.\n"
            "• Настройте стадии под ваш процесс продаж и назовите их понятно для менеджеров.\n"
            "• Перемещайте сделки по стадиям канбана, когда клиент делает следующий шаг.",
            "как настроить стадии под процесс продаж",
        ),
    ],
    ids=["too-short-without-it", "list-items"],
)
def test_a_summary_keeps_what_is_not_an_aside(summary: str, question: str) -> None:
    entry = Entry(id="s", title="Общий чат и канбан", source="t", summary=summary)
    kb = KnowledgeBase([entry], analyzer=Analyzer())
    assert text_of(kb.answer_for("s", question)) == summary


def test_a_lead_in_brings_its_list_and_the_text_never_ends_in_a_colon(kb: KnowledgeBase) -> None:
    answer = kb.answer_for("invite", "какие есть дополнительные настройки приглашения по ссылке")
    text = text_of(answer)
    assert "Можно включить дополнительные настройки:" in text
    assert "• Разрешить вход без подтверждения для доменов." in text  # the list, line by line
    assert not text.rstrip().endswith(":")


def test_a_passage_that_is_only_a_lead_in_reads_as_a_sentence() -> None:
    entry = Entry(id="x", title="Настройки", source="t", body="Можно включить режим отпуска:")
    answer = build_answer(entry, Analyzer(), {"режим": 1.0})
    assert text_of(answer) == "Можно включить режим отпуска."


def test_the_path_shown_belongs_to_the_passage(kb: KnowledgeBase) -> None:
    # regression: the first path of the article («Права доступа») was shown for inviting staff
    mass = kb.answer_for("invite", "как пригласить сразу много сотрудников массово")
    assert mass.path == "Сотрудники > Пригласить > Массово"
    general = kb.answer_for("invite", "как пригласить сотрудников")
    assert general.path == ""  # a path mentioned in passing elsewhere is not the answer's


def test_a_declared_path_serves_the_passages_after_it(kb: KnowledgeBase) -> None:
    answer = kb.answer_for("roles", "как скопировать роль")
    assert text_of(answer).startswith("Скопировать роль\n1. Нажмите Скопировать роль.")
    assert "Удалить роль" not in text_of(answer)
    assert answer.path == "CRM > Продажи > CRM-формы > Настройки > Права доступа"


def test_a_path_given_with_the_entry_is_always_shown() -> None:
    entry = Entry(
        id="v",
        title="Как взять отпуск",
        source="t",
        path="Компания > Отпуска",
        body="Заявление подают за две недели.",
    )
    assert build_answer(entry, Analyzer(), {"заявлен": 1.0}).path == "Компания > Отпуска"


def test_a_section_carries_its_breadcrumb_and_an_article_none(kb: KnowledgeBase) -> None:
    section = kb.answer_for("mail", "какой порт указывать для почты")
    assert section.breadcrumb == MAIL.breadcrumb
    assert text_of(section).startswith("Порт")
    assert section.path == ""  # the path is in another paragraph
    assert kb.answer_for("invite").breadcrumb == ()
    reply = compose(Decision(Action.ANSWER, (Match(MAIL, 0.9),), section), "ru")
    assert (
        reply.blocks[0] == "Раздел: Методическое пособие для администраторов > Работа с клиентами"
    )


def test_a_path_the_text_gives_with_dashes_is_not_repeated_under_it(kb: KnowledgeBase) -> None:
    # regression: «На странице CRM – Настройки – Интеграция с почтой …» was followed by
    # «Где: CRM > Настройки > Интеграция с почтой»
    answer = kb.answer_for("mail", "как подключить почтовый ящик компании к crm")
    assert answer.path == "CRM > Настройки > Интеграция с почтой"
    assert gives_path(answer)
    reply = compose(Decision(Action.ANSWER, (Match(MAIL, 0.9),), answer), "ru")
    assert not any(block.startswith("Где:") for block in reply.blocks)
    # a path the text does not give is shown under it
    other = Answer(MAIL, ("Почту подключают к CRM.",), "CRM > Настройки > Интеграция с почтой")
    assert not gives_path(other)
    reply = compose(Decision(Action.ANSWER, (Match(MAIL, 0.9),), other), "ru")
    assert "Где: CRM > Настройки > Интеграция с почтой" in reply.blocks


def test_a_dangling_fragment_of_a_scraped_line_is_dropped(kb: KnowledgeBase) -> None:
    answer = kb.answer_for("2fa", "двухфакторная аутентификация для сотрудников")
    assert "Перейдите в личный профиль." in text_of(answer)
    assert "Нажмите\n" not in text_of(answer) + "\n"


@pytest.mark.parametrize(
    ("lang", "note"),
    [("en", "The article is in Russian."), ("ro", "Articolul este în limba rusă.")],
)
def test_an_answer_from_a_russian_article_says_so_in_another_language(
    kb: KnowledgeBase, lang: str, note: str
) -> None:
    answer = kb.answer_for("invite", "how to invite employees")
    assert answer.lang == "ru"
    reply = compose(Decision(Action.ANSWER, (Match(INVITE, 0.9),), answer), lang)
    assert reply.blocks[-1] == note
    russian = compose(Decision(Action.ANSWER, (Match(INVITE, 0.9),), answer), "ru")
    assert not any("русском" in b for b in russian.blocks)


def test_every_answer_stays_short() -> None:
    long = Entry(
        id="l",
        title="Длинная статья",
        source="t",
        body="\n".join(
            f"Пункт {n}: откройте раздел и нажмите кнопку номер {n}, затем "
            f"сохраните изменения и проверьте результат."
            for n in range(60)
        ),
    )
    kb = KnowledgeBase([long, *ENTRIES])
    for entry in kb.entries:
        for question in ("", "как открыть раздел и сохранить изменения", entry.title):
            assert len(text_of(kb.answer_for(entry.id, question))) <= MAX_ANSWER_CHARS
