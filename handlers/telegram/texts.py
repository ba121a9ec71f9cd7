"""Telegram's own phrases in Russian, English and Romanian, the channel's part of the catalogue:
the person's side (/start, /help, a message that is not text), the bot's command menus and the
operators' forum group (topic names, the Take button, refusals, undelivered messages)."""

from __future__ import annotations

from bot.texts import PHRASES, phrase_in

TELEGRAM_PHRASES: dict[str, dict[str, str]] = {
    "tg_start": {
        "ru": "Здравствуйте! Я помощник по Битрикс24. Напишите вопрос своими словами — я найду "
        "ответ в базе знаний, а если не найду, передам его оператору. /help — подсказка.",
        "en": "Hello! I am the Bitrix24 assistant. Type your question in your own words and I "
        "will find the answer in the knowledge base, or pass it to an operator. /help — tips.",
        "ro": "Bună ziua! Sunt asistentul Bitrix24. Scrieți întrebarea cu propriile cuvinte — "
        "caut răspunsul în baza de cunoștințe sau o transmit unui operator. /help — ajutor.",
    },
    "tg_help": {
        "ru": "Как со мной работать:\n• напишите вопрос текстом, например «как восстановить "
        "пароль»;\n• под ответом отметьте «Помогло» или «Не помогло»;\n• /operator — позвать "
        "оператора;\n• «отмена» — отменить обращение к оператору.",
        "en": "How to use me:\n• type a question, e.g. “how do I restore my password”;\n• mark "
        "an answer “Helped” or “Didn't help”;\n• /operator — call an operator;\n• “cancel” — "
        "cancel a request to operators.",
        "ro": "Cum să mă folosiți:\n• scrieți întrebarea, de exemplu „cum îmi recuperez "
        "parola”;\n• marcați răspunsul „M-a ajutat” sau „Nu m-a ajutat”;\n• /operator — "
        "chemați un operator;\n• „anulează” — anulați cererea către operatori.",
    },
    "tg_text_only": {
        "ru": "Я читаю только текст. Напишите вопрос словами, пожалуйста.",
        "en": "I can read text only. Please type your question.",
        "ro": "Citesc doar text. Vă rog să scrieți întrebarea.",
    },
    # The bot's command menus (setMyCommands) and the operators' forum group.
    "cmd_help": {"ru": "Подсказка", "en": "Tips", "ro": "Ajutor"},
    "cmd_operator": {"ru": "Позвать оператора", "en": "Call an operator", "ro": "Cheamă operator"},
    "cmd_close": {
        "ru": "Закрыть обращение [заметка]",
        "en": "Close the request [note]",
        "ro": "Închide cererea [notă]",
    },
    "cmd_transfer": {
        "ru": "Передать коллеге: /transfer Имя",
        "en": "Hand on to a colleague: /transfer Name",
        "ro": "Transmite unui coleg: /transfer Nume",
    },
    "op_btn_take": {"ru": "Взять", "en": "Take", "ro": "Preiau"},
    "op_topic_name": {
        "ru": "№{ticket} {name}: {question}",
        "en": "#{ticket} {name}: {question}",
        "ro": "nr. {ticket} {name}: {question}",
    },
    "op_card_hint": {
        "ru": "Ответ в этой теме уйдёт пользователю. /close [заметка] — закрыть, /transfer "
        "Имя — передать коллеге.",
        "en": "Replies in this topic go to the person. /close [note] closes, /transfer Name "
        "hands it on.",
        "ro": "Răspunsurile din acest subiect ajung la persoană. /close [notă] închide, "
        "/transfer Nume transmite.",
    },
    "op_already_taken": {
        "ru": "Обращение уже взял(а) {operator}.",
        "en": "{operator} has already taken it.",
        "ro": "A preluat-o deja {operator}.",
    },
    "op_not_open": {
        "ru": "Обращение №{ticket} уже закрыто.",
        "en": "Request #{ticket} is already closed.",
        "ro": "Cererea nr. {ticket} este deja închisă.",
    },
    "op_no_ticket": {
        "ru": "В этой теме нет обращения.",
        "en": "There is no request in this topic.",
        "ro": "Nu există nicio cerere în acest subiect.",
    },
    "op_not_member": {
        "ru": "Это могут делать только участники группы операторов.",
        "en": "Only members of the operators' group can do this.",
        "ro": "Doar membrii grupului de operatori pot face asta.",
    },
    "op_transfer_usage": {
        "ru": "Кому передать? /transfer Имя — или ответьте этой командой на сообщение коллеги.",
        "en": "To whom? /transfer Name — or reply with this command to a colleague's message.",
        "ro": "Cui? /transfer Nume — sau răspundeți cu această comandă la mesajul unui coleg.",
    },
    "op_person_blocked": {
        "ru": "Не доставлено: пользователь заблокировал бота (обращение №{ticket}).",
        "en": "Not delivered: the person blocked the bot (request #{ticket}).",
        "ro": "Nelivrat: persoana a blocat botul (cererea nr. {ticket}).",
    },
    "op_not_delivered": {
        "ru": "Не доставлено пользователю (обращение №{ticket}): Telegram ответил «{reason}».",
        "en": "Not delivered to the person (request #{ticket}): Telegram said “{reason}”.",
        "ro": "Nelivrat persoanei (cererea nr. {ticket}): Telegram a răspuns „{reason}”.",
    },
    "op_media": {
        "ru": "[вложение: {kind}]",
        "en": "[attachment: {kind}]",
        "ro": "[atașament: {kind}]",
    },
}


def tg_phrase(key: str, lang: str, **fields: object) -> str:
    """The phrase ``key`` in ``lang`` (Russian when missing): the channel's own, else the core's
    (:data:`bot.texts.PHRASES`: answers, tickets' notices, the case card)."""
    return phrase_in(TELEGRAM_PHRASES if key in TELEGRAM_PHRASES else PHRASES, key, lang, **fields)
