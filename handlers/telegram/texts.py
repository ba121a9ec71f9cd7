"""Telegram's own phrases (the person's side: /start, /help, a message that is not text) in
Russian, English and Romanian: data only, the channel's part of the catalogue."""

from __future__ import annotations

from bot.texts import phrase_in

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
}


def tg_phrase(key: str, lang: str, **fields: object) -> str:
    """The Telegram phrase ``key`` in ``lang`` (Russian when missing)."""
    return phrase_in(TELEGRAM_PHRASES, key, lang, **fields)
