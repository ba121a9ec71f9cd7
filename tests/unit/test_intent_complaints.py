"""A complaint, a wish to reach someone's superior, or a person wanted instead of the bot is a
request for a human; a question about the product that names a superior, a complaint, a manual
(«руководство») or the bot stays a question: asserted on the intent reader
(:meth:`KnowledgeBase.read`), whose patterns these are."""

from __future__ import annotations

import pytest

from knowledge.base import KnowledgeBase
from knowledge.intents import OPERATOR
from knowledge.model import Action


@pytest.mark.parametrize(
    "text",
    [
        # The management or a superior, as whom one reaches.
        "Ваш сервис ужасен, я хочу поговорить с руководством",
        "верните деньги и позовите начальника, безобразие",
        "свяжите меня с вашим руководством",
        "хочу поговорить со старшим менеджером",
        "дайте мне вашего начальника",
        "I want to speak to your supervisor",
        "escalate this to a supervisor",
        "get me your manager",
        "Vreau să vorbesc cu șeful",
        "aș vrea să vorbesc cu un superior",
        "let me speak to your supervisor",
        "vreau să vorbesc cu șeful vostru",
        "соедините меня с начальником",
        # A person wanted instead of the bot, whoever is named.
        "Мне нужен специалист техподдержки, а не бот",
        "мне нужен живой ответ, а не бот",
        "нужен сотрудник службы поддержки",
        # A complaint made to the company.
        "Хочу оставить жалобу на вашего сотрудника",
        "хочу жалобу оставить",
        "у меня жалоба на вашу работу",
        "Я недоволен обслуживанием и хочу написать претензию",
        "хочу пожаловаться на оператора",
        "I want to file a complaint",
        "I have a complaint about your support",
        "Doresc să depun o reclamație",
        "am o reclamație",
        "I would like to make a complaint.",
    ],
)
def test_a_complaint_or_a_superior_asked_for_is_a_request(kb: KnowledgeBase, text: str) -> None:
    assert kb.decide(text).action is Action.OPERATOR


@pytest.mark.parametrize(
    "text",
    [
        "как назначить руководителя отдела",
        "как назначить начальника отдела",
        "как дать директору доступ ко всем отчётам",
        "как добавить старшего менеджера в отдел продаж",
        "дайте руководство по настройке CRM",  # a manual
        "перешлите руководство по телефонии",
        "где руководство по настройке телефонии",
        "Руководство хочет, чтобы портал открывался по нашему домену. Как это сделать?",
        "как сделать согласование счетов чтоб бухгалтер и директор подписывали по очереди",
        "клиент хочет оставить жалобу, куда её записать в CRM",
        "как вести претензии клиентов в CRM",
        "хочу настроить приём жалоб через CRM-форму",
        "how do I set up a form for customer complaints",
        "how to give the supervisor access to reports",
        "cum înregistrez o reclamație a clientului în CRM",
        "vreau ca șeful să aprobe facturile",
        "хочу, чтобы клиентам отвечал оператор, а не бот",
        "можно ли чтобы на вопросы отвечал оператор, а не бот",
        # Talking to a superior of one's own, asked how: a question about chats and calls.
        "как связаться с начальником отдела через чат битрикс24",
        "как пообщаться с руководством в видеозвонке",
        "как поговорить с начальником по видеосвязи",
        "хочу написать начальнику, где найти его в чатах",
        # A comma with a space before the question word still ends the wish (it once did not).
        "хочу поговорить с руководством, где найти его в чатах",
        "хочу поговорить с руководством отдела продаж по видеосвязи, как запустить видеозвонок",
        "cum pot discuta cu seful in chat",
        # A complaint the product makes or keeps, or one lodged with someone else.
        "how can I let customers file a complaint through the web form",
        "we have a complaint form on our site, how do I connect it to the CRM",
        "I want to make a complaint form for my clients",
        "хочу написать претензию контрагенту, где шаблон документа",
        "хочу отправить претензию поставщику из CRM",
        "хочу подать жалобу в суд, как сформировать документ в CRM",
        "vreau să fac o reclamație a clientului în CRM",
        "Vreau să depun o plângere la ANPC, cum generez documentul din CRM?",
        # A person set against the bot in how the product is set up.
        "можно настроить так, что отвечает оператор, а не бот?",
        "можно ли в открытой линии отвечать людям, а не боту",
        # Writing to support oneself, asking how: the article on what to tell support.
        "Хочу написать в поддержку, но не знаю, какие данные им нужны. Что указать в обращении?",
    ],
)
def test_a_question_naming_a_superior_or_a_complaint_stays_a_question(
    kb: KnowledgeBase, text: str
) -> None:
    assert kb.read(text).intent.kind != OPERATOR
