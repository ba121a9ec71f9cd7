"""The bot's own phrases in Russian, English and Romanian: one catalogue, data only."""

from __future__ import annotations

LANGUAGES = ("ru", "en", "ro")
DEFAULT_LANGUAGE = "ru"

# Words that, written alone while a ticket is open, cancel it.
CANCEL_WORDS = frozenset(
    {"отмена", "отменить", "/cancel", "cancel", "stop", "anulează", "anuleaza", "renunț", "renunt"}
)

WEEKDAYS = {
    "ru": ("пн", "вт", "ср", "чт", "пт", "сб", "вс"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "ro": ("lun", "mar", "mie", "joi", "vin", "sâm", "dum"),
}

PHRASES: dict[str, dict[str, str]] = {
    # Buttons.
    "btn_helped": {"ru": "Помогло", "en": "Helped", "ro": "M-a ajutat"},
    "btn_not_helped": {"ru": "Не помогло", "en": "Didn't help", "ro": "Nu m-a ajutat"},
    "btn_operator": {
        "ru": "Позвать оператора",
        "en": "Call an operator",
        "ro": "Cheamă un operator",
    },
    "btn_cancel": {
        "ru": "Отменить обращение",
        "en": "Cancel the request",
        "ro": "Anulează cererea",
    },
    # Answers.
    "answer_path": {"ru": "Где: {path}", "en": "Where: {path}", "ro": "Unde: {path}"},
    "answer_links": {"ru": "Подробнее:", "en": "More:", "ro": "Detalii:"},
    "clarify_intro": {
        "ru": "Возможно, вы имели в виду:",
        "en": "Perhaps you meant:",
        "ro": "Poate v-ați referit la:",
    },
    "clarify_hint": {
        "ru": "Выберите вариант или позовите оператора.",
        "en": "Choose one, or call an operator.",
        "ro": "Alegeți o variantă sau chemați un operator.",
    },
    "alternatives_intro": {
        "ru": "Жаль, что не помогло. Может быть, подойдёт что-то из этого:",
        "en": "Sorry that did not help. Perhaps one of these fits:",
        "ro": "Îmi pare rău că nu a ajutat. Poate se potrivește una dintre acestea:",
    },
    "escalate": {
        "ru": "Я не нашёл ответа на этот вопрос. Позвать оператора?",
        "en": "I could not find an answer to this question. Shall I call an operator?",
        "ro": "Nu am găsit un răspuns la această întrebare. Să chem un operator?",
    },
    "operator": {
        "ru": "Хорошо, передаю вопрос оператору.",
        "en": "All right, I am passing your question to an operator.",
        "ro": "Bine, transmit întrebarea unui operator.",
    },
    "helped": {
        "ru": "Рад, что помог! Если появятся вопросы — пишите.",
        "en": "Glad it helped! Write any time you have another question.",
        "ro": "Mă bucur că v-am ajutat! Scrieți oricând aveți o altă întrebare.",
    },
    "empty": {
        "ru": "Напишите вопрос текстом — я поищу ответ в базе знаний.",
        "en": "Please type your question and I will look for an answer in the knowledge base.",
        "ro": "Scrieți întrebarea în text și voi căuta răspunsul în baza de cunoștințe.",
    },
    "stale": {
        "ru": "Эта кнопка уже не действует. Задайте вопрос ещё раз.",
        "en": "This button no longer works. Please ask your question again.",
        "ro": "Acest buton nu mai funcționează. Vă rog să puneți întrebarea din nou.",
    },
    # Small talk: what the bot can do.
    "smalltalk_greeting": {
        "ru": "Здравствуйте! Я помощник по Битрикс24: отвечаю на вопросы о CRM, задачах, чатах и "
        "настройках портала, а если не найду ответа — позову оператора. Задайте вопрос.",
        "en": "Hello! I am the Bitrix24 assistant: I answer questions about CRM, tasks, chats and "
        "portal settings, and call an operator when I cannot find an answer. Ask away.",
        "ro": "Bună ziua! Sunt asistentul Bitrix24: răspund la întrebări despre CRM, sarcini, "
        "chaturi și setările portalului, iar dacă nu găsesc răspunsul, chem un operator.",
    },
    "smalltalk_thanks": {
        "ru": "Пожалуйста! Если появятся вопросы по Битрикс24 — пишите.",
        "en": "You are welcome! Write whenever you have a question about Bitrix24.",
        "ro": "Cu plăcere! Scrieți oricând aveți o întrebare despre Bitrix24.",
    },
    "smalltalk_bot": {
        "ru": "Я бот-помощник: ищу ответы в базе знаний Битрикс24, а если не найду — передаю "
        "вопрос оператору.",
        "en": "I am a help bot: I look for answers in the Bitrix24 knowledge base and pass your "
        "question to an operator when I cannot find one.",
        "ro": "Sunt un bot de asistență: caut răspunsuri în baza de cunoștințe Bitrix24 și, dacă "
        "nu găsesc, transmit întrebarea unui operator.",
    },
    "smalltalk_bye": {
        "ru": "До свидания! Обращайтесь, если понадобится помощь.",
        "en": "Goodbye! Come back whenever you need help.",
        "ro": "La revedere! Reveniți oricând aveți nevoie de ajutor.",
    },
    "smalltalk_ack": {
        "ru": "Хорошо. Если появятся вопросы по Битрикс24 — пишите.",
        "en": "All right. Write whenever you have a question about Bitrix24.",
        "ro": "Bine. Scrieți oricând aveți o întrebare despre Bitrix24.",
    },
    # Tickets, as the person sees them.
    "ticket_created": {
        "ru": "Передал ваш вопрос оператору (обращение №{ticket}, место в очереди: {position}). "
        "Оператор ответит здесь. Можно дописать подробности; чтобы отменить, напишите «отмена».",
        "en": "I passed your question to an operator (request #{ticket}, place in the queue: "
        "{position}). The operator will reply here. You can add details; to cancel, write "
        "“cancel”.",
        "ro": "Am transmis întrebarea unui operator (cererea nr. {ticket}, locul în coadă: "
        "{position}). Operatorul va răspunde aici. Puteți adăuga detalii; pentru a anula, "
        "scrieți „anulează”.",
    },
    "ticket_exists": {
        "ru": "Этот вопрос уже у операторов (обращение №{ticket}, место в очереди: {position}).",
        "en": "This question is already with the operators (request #{ticket}, place in the "
        "queue: {position}).",
        "ro": "Această întrebare este deja la operatori (cererea nr. {ticket}, locul în coadă: "
        "{position}).",
    },
    "after_hours": {
        "ru": "Сейчас операторы не работают (часы работы: {hours}). Ответим, когда вернутся: "
        "{when}.",
        "en": "Operators are away now (working hours: {hours}). We will reply when they are "
        "back: {when}.",
        "ro": "Operatorii nu lucrează acum (program: {hours}). Vom răspunde când revin: {when}.",
    },
    "ticket_relayed": {
        "ru": "Добавил это к обращению №{ticket}.",
        "en": "Added this to request #{ticket}.",
        "ro": "Am adăugat acest mesaj la cererea nr. {ticket}.",
    },
    "ticket_busy": {
        "ru": "Ваш вопрос уже у оператора (обращение №{ticket}). Чтобы вернуться к боту, "
        "напишите «отмена».",
        "en": "Your question is with an operator (request #{ticket}). To go back to the bot, "
        "write “cancel”.",
        "ro": "Întrebarea este la operator (cererea nr. {ticket}). Pentru a reveni la bot, "
        "scrieți „anulează”.",
    },
    "ticket_cancelled": {
        "ru": "Обращение №{ticket} отменено. Я снова на связи — задайте вопрос.",
        "en": "Request #{ticket} is cancelled. I am back — ask me anything.",
        "ro": "Cererea nr. {ticket} a fost anulată. Sunt din nou aici — întrebați-mă.",
    },
    "ticket_taken": {
        "ru": "Оператор {operator} взял ваше обращение №{ticket}.",
        "en": "Operator {operator} has taken your request #{ticket}.",
        "ro": "Operatorul {operator} a preluat cererea nr. {ticket}.",
    },
    "ticket_transferred": {
        "ru": "Ваше обращение №{ticket} передано оператору {operator}.",
        "en": "Your request #{ticket} was handed to operator {operator}.",
        "ro": "Cererea nr. {ticket} a fost transmisă operatorului {operator}.",
    },
    "ticket_closed": {
        "ru": "Обращение №{ticket} закрыто. Оцените, пожалуйста, помощь оператора от 1 до 5.",
        "en": "Request #{ticket} is closed. Please rate the operator's help from 1 to 5.",
        "ro": "Cererea nr. {ticket} a fost închisă. Vă rog să evaluați ajutorul de la 1 la 5.",
    },
    "rated": {
        "ru": "Спасибо за оценку!",
        "en": "Thank you for the rating!",
        "ro": "Mulțumesc pentru evaluare!",
    },
    "today": {"ru": "сегодня в {time}", "en": "today at {time}", "ro": "azi la {time}"},
    "tomorrow": {"ru": "завтра в {time}", "en": "tomorrow at {time}", "ro": "mâine la {time}"},
    "weekday_at": {"ru": "{day} в {time}", "en": "{day} at {time}", "ro": "{day} la {time}"},
    # For operators (in the configured language).
    "op_ticket_new": {
        "ru": "Новое обращение №{ticket} от {name}: {question}",
        "en": "New request #{ticket} from {name}: {question}",
        "ro": "Cerere nouă nr. {ticket} de la {name}: {question}",
    },
    "op_ticket_reflag": {
        "ru": "Обращение №{ticket} никто не взял уже {minutes} мин.: {question}",
        "en": "Nobody has taken request #{ticket} for {minutes} min: {question}",
        "ro": "Nimeni nu a preluat cererea nr. {ticket} de {minutes} min: {question}",
    },
    "op_ticket_cancelled": {
        "ru": "Пользователь отменил обращение №{ticket}.",
        "en": "The person cancelled request #{ticket}.",
        "ro": "Persoana a anulat cererea nr. {ticket}.",
    },
    "op_ticket_rated": {
        "ru": "Оценка обращения №{ticket}: {rating}",
        "en": "Request #{ticket} rated {rating}",
        "ro": "Cererea nr. {ticket} a fost evaluată cu {rating}",
    },
}


def phrase(key: str, lang: str, **fields: object) -> str:
    """The phrase ``key`` in ``lang`` (Russian when missing), with ``fields`` filled in."""
    variants = PHRASES[key]
    return variants.get(lang, variants[DEFAULT_LANGUAGE]).format(**fields)
