"""A demand or a need said of oneself is a request for a human when it asks to be reached
(«требую связаться со мной»), for someone of the company qualified by what they are to be («нужен
ответственный сотрудник») or for a reply or a call from the company («жду звонка от вашего
специалиста»); the same words about the product stay a question: «ответственный» is a field of
deals and tasks, calling or contacting a client is what the product does, someone else's support
is no part of the company, and a need asked («нужен старший менеджер?») is a question.

The negatives are asserted on the intent reader itself (:meth:`KnowledgeBase.read`), which these
patterns are: a wording read as a request for a human but routed otherwise would fail them."""

from __future__ import annotations

import pytest

from knowledge.base import KnowledgeBase
from knowledge.intents import OPERATOR
from knowledge.model import Action


@pytest.mark.parametrize(
    "text",
    [
        # To be reached.
        "требую связаться со мной",
        "Вы деньги списали, а портал не работает! Требую связаться со мной",
        "прошу срочно перезвонить мне",
        "требую, чтобы со мной связались сегодня же",
        "необходимо связаться со мной по телефону",
        "I demand that someone contacts me",
        "I insist on being contacted",
        "cer să fiu contactat",
        "solicit să mă contactați",
        # Someone of the company, qualified.
        "нужен ответственный сотрудник",
        "Третий день ничего не работает, это безобразие, нужен ответственный сотрудник",
        "требую компетентного специалиста",
        "мне срочно нужен грамотный менеджер, а не отписки",
        "I need a competent specialist",
        "am nevoie de un specialist competent",
        # A reply or a call from the company.
        "жду звонка от вашего специалиста",
        "требую ответа от руководства",
        "Сделки пропали после импорта, жду ответа от вас",
        "I expect a call from your manager",
        "aștept un răspuns de la voi",
    ],
)
def test_a_demand_to_be_reached_or_for_someone_responsible_is_a_request(
    kb: KnowledgeBase, text: str
) -> None:
    assert kb.decide(text).action is Action.OPERATOR


@pytest.mark.parametrize(
    "text",
    [
        # The responsible person of a deal or a task: a field of the product.
        "как назначить ответственного сотрудника за сделку",
        "нужен ответственный в задаче",
        "робот требует ответственного",
        "в каждой сделке нужен ответственный сотрудник",
        "нужен ответственный сотрудник в сделке",
        "нужен ответственный сотрудник для каждого этапа воронки, как настроить",
        "для задачи нужен ответственный сотрудник и соисполнители",
        "требуется ответственный менеджер в сделке",
        "бизнес-процесс требует ответственного сотрудника",
        "как сделать, чтобы ответственный сотрудник получал уведомления",
        "хочу назначить старшего менеджера ответственным",
        "старший менеджер не видит сделки",
        "how to assign a responsible person to a deal",
        "I need a responsible person field in the task",
        "we need a responsible person for each deal",
        "cum atribui un responsabil la o sarcină",
        # Calling or contacting a client, or being called by one: what the product does.
        "как связаться с клиентом из CRM",
        "как настроить звонок клиенту",
        "клиент требует связаться с ним, как создать задачу",
        "нужно, чтобы менеджер связался с клиентом после заявки",
        "как сделать, чтобы клиент ждал звонка от менеджера",
        "Как сделать так, чтобы мне перезвонили клиенты",
        "хочу, чтобы робот позвонил мне при новом лиде",
        "хочу, чтобы мне написали клиенты в открытую линию",
        "нужно чтобы со мной связывался клиент через виджет, как настроить",
        "прошу ответить мне, где найти настройки",
        "I am waiting for a reply from the client",
        "I want a call from the client to be recorded",
        "vreau să fiu contactat de client prin formular",
        "cer un răspuns de la client prin email",
        # A reply from someone else's support or management, with a question going on.
        "жду ответа от поддержки Google, как подключить календарь",
        "требую ответа от поддержки Google, как подключить календарь",
        "We expect a reply from the management team about the tariff",
        # A need asked: the product's roles.
        "нужен старший менеджер?",
        "нужен ответственный сотрудник?",
    ],
)
def test_a_need_of_the_product_stays_a_question(kb: KnowledgeBase, text: str) -> None:
    assert kb.read(text).intent.kind != OPERATOR
