"""The bot's own phrases in Russian, English and Romanian: one catalogue, data only."""

from __future__ import annotations

from bot.texts_operators import OPERATOR_PHRASES

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
    "btn_none": {
        "ru": "Ничего из этого",
        "en": "None of these",
        "ro": "Niciuna dintre acestea",
    },
    "btn_cancel": {
        "ru": "Отменить обращение",
        "en": "Cancel the request",
        "ro": "Anulează cererea",
    },
    # Answers.
    "answer_path": {"ru": "Где: {path}", "en": "Where: {path}", "ro": "Unde: {path}"},
    "answer_section": {
        "ru": "Раздел: {crumbs}",
        "en": "Section of: {crumbs}",
        "ro": "Secțiune din: {crumbs}",
    },
    # Said when the entry is written in another language than the reply.
    "article_in_ru": {
        "ru": "Статья на русском языке.",
        "en": "The article is in Russian.",
        "ro": "Articolul este în limba rusă.",
    },
    "article_in_ro": {
        "ru": "Статья на румынском языке.",
        "en": "The article is in Romanian.",
        "ro": "Articolul este în limba română.",
    },
    "article_in_en": {
        "ru": "Статья на английском языке.",
        "en": "The article is in English.",
        "ro": "Articolul este în limba engleză.",
    },
    "clarify_intro": {
        "ru": "Возможно, вы имели в виду:",
        "en": "Perhaps you meant:",
        "ro": "Poate v-ați referit la:",
    },
    "clarify_hint": {
        "ru": "Выберите вариант или нажмите «Ничего из этого» — тогда позову оператора.",
        "en": "Choose one, or press “None of these” and I will call an operator.",
        "ro": "Alegeți o variantă sau apăsați „Niciuna dintre acestea” și voi chema un operator.",
    },
    # Under numbered choices: customers on most connectors see no buttons and type the number.
    "choose_by_number": {
        "ru": "Ответьте номером варианта.",
        "en": "Reply with the number of your choice.",
        "ro": "Răspundeți cu numărul variantei.",
    },
    "alternatives_intro": {
        "ru": "Жаль, что не помогло. Может быть, подойдёт что-то из этого:",
        "en": "Sorry that did not help. Perhaps one of these fits:",
        "ro": "Îmi pare rău că nu a ajutat. Poate se potrivește una dintre acestea:",
    },
    "escalate": {
        "ru": "В базе знаний нет ответа на этот вопрос. Позвать оператора?",
        "en": "The knowledge base does not cover this question. Shall I call an operator?",
        "ro": "Baza de cunoștințe nu acoperă această întrebare. Să chem un operator?",
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
    # The terminal (`helpbot chat`, `helpbot ask`).
    "cli_start": {
        "ru": "Здравствуйте! Я помощник по Битрикс24. Напишите вопрос своими словами — я найду "
        "ответ в базе знаний, а если не найду, передам его оператору. /help — подсказка, "
        "/quit — выход.",
        "en": "Hello! I am the Bitrix24 assistant. Type your question in your own words and I "
        "will find the answer in the knowledge base, or pass it to an operator. /help — tips, "
        "/quit — leave.",
        "ro": "Bună ziua! Sunt asistentul Bitrix24. Scrieți întrebarea cu propriile cuvinte — "
        "caut răspunsul în baza de cunoștințe sau o transmit unui operator. /help — ajutor, "
        "/quit — ieșire.",
    },
    "cli_help": {
        "ru": "Как со мной работать:\n• напишите вопрос текстом, например «как восстановить "
        "пароль»;\n• чтобы нажать кнопку, введите её номер: 1, 2…;\n• /operator — позвать "
        "оператора; его ответы появятся здесь же;\n• «отмена» — отменить обращение к "
        "оператору;\n• /quit или Ctrl-D — выйти.",
        "en": "How to use me:\n• type a question, e.g. “how do I restore my password”;\n• to "
        "press a button, type its number: 1, 2…;\n• /operator — call an operator; the replies "
        "appear here;\n• “cancel” — cancel a request to operators;\n• /quit or Ctrl-D — leave.",
        "ro": "Cum să mă folosiți:\n• scrieți întrebarea, de exemplu „cum îmi recuperez "
        "parola”;\n• pentru a apăsa un buton, scrieți numărul lui: 1, 2…;\n• /operator — "
        "chemați un operator; răspunsurile apar aici;\n• „anulează” — anulați cererea către "
        "operatori;\n• /quit sau Ctrl-D — ieșire.",
    },
    "cli_press_range": {
        "ru": "Нажмите {choices} — или напишите вопрос словами.",
        "en": "Press {choices}, or type your question in words.",
        "ro": "Apăsați {choices} sau scrieți întrebarea în cuvinte.",
    },
    "cli_no_buttons": {
        "ru": "Здесь нет кнопок с номерами — напишите вопрос словами.",
        "en": "There are no buttons to press here: type your question in words.",
        "ro": "Aici nu sunt butoane de apăsat: scrieți întrebarea în cuvinte.",
    },
    "cli_nothing_to_cancel": {
        "ru": "Отменять нечего: открытых обращений к оператору нет.",
        "en": "There is nothing to cancel: you have no open request to operators.",
        "ro": "Nu este nimic de anulat: nu aveți nicio cerere deschisă către operatori.",
    },
    "cli_ask_choose": {
        "ru": "Спросите заголовком нужной статьи — или опишите вопрос подробнее.",
        "en": "Ask with the title you need, or describe the question in more detail.",
        "ro": "Întrebați cu titlul articolului dorit sau descrieți întrebarea mai detaliat.",
    },
    "cli_ask_escalate": {
        "ru": "В базе знаний нет ответа на этот вопрос. Сформулируйте его иначе — или задайте "
        "в helpbot chat: там его можно передать оператору.",
        "en": "The knowledge base does not cover this question. Put it another way, or ask it "
        "in helpbot chat, where an operator can take it.",
        "ro": "Baza de cunoștințe nu acoperă această întrebare. Formulați-o altfel sau puneți-o "
        "în helpbot chat, unde o poate prelua un operator.",
    },
    "cli_ask_operator": {
        "ru": "Оператора можно позвать в helpbot chat: задайте там вопрос и напишите /operator.",
        "en": "Operators answer in helpbot chat: ask there, then type /operator.",
        "ro": "Operatorii răspund în helpbot chat: întrebați acolo, apoi scrieți /operator.",
    },
    # Operators: the case card's lines and tickets' notices, in every operator surface.
    "op_transcript": {"ru": "Переписка:", "en": "Transcript:", "ro": "Conversația:"},
    "op_who_person": {"ru": "Пользователь", "en": "Person", "ro": "Persoana"},
    "op_who_bot": {"ru": "Бот", "en": "Bot", "ro": "Bot"},
    "op_who_operator": {"ru": "Оператор", "en": "Operator", "ro": "Operator"},
    "op_matches": {"ru": "Похожие статьи:", "en": "Related entries:", "ro": "Articole similare:"},
    "op_ticket_taken": {
        "ru": "Обращение №{ticket} взял(а) {operator}.",
        "en": "{operator} took request #{ticket}.",
        "ro": "{operator} a preluat cererea nr. {ticket}.",
    },
    "op_ticket_transferred": {
        "ru": "Обращение №{ticket} передано: {operator}.",
        "en": "Request #{ticket} handed to {operator}.",
        "ro": "Cererea nr. {ticket} a fost transmisă: {operator}.",
    },
    "op_ticket_closed": {
        "ru": "Обращение №{ticket} закрыто.",
        "en": "Request #{ticket} is closed.",
        "ro": "Cererea nr. {ticket} este închisă.",
    },
    # The help center (web pages of the knowledge base).
    "hc_title": {"ru": "Справочный центр", "en": "Help center", "ro": "Centru de ajutor"},
    "hc_version": {
        "ru": "Версия базы знаний {hash} от {time}",
        "en": "Knowledge base version {hash} of {time}",
        "ro": "Versiunea bazei de cunoștințe {hash} din {time}",
    },
    "hc_contents": {"ru": "Содержание", "en": "Contents", "ro": "Cuprins"},
    "hc_search": {"ru": "Найти", "en": "Search", "ro": "Caută"},
    "hc_ask": {"ru": "Ваш вопрос", "en": "Your question", "ro": "Întrebarea dvs."},
    "hc_search_hint": {
        "ru": "Ваш вопрос, например: как восстановить пароль",
        "en": "Your question, e.g. how to restore a password",
        "ro": "Întrebarea dvs., de ex.: cum îmi recuperez parola",
    },
    "hc_results_for": {"ru": "Поиск: {query}", "en": "Search: {query}", "ro": "Căutare: {query}"},
    "hc_cut": {
        "ru": "Запрос сокращён до {limit} символов.",
        "en": "The query was cut to {limit} characters.",
        "ro": "Interogarea a fost scurtată la {limit} caractere.",
    },
    "hc_best": {"ru": "Лучший ответ", "en": "Best answer", "ro": "Cel mai bun răspuns"},
    "hc_more": {"ru": "Читать полностью", "en": "Read in full", "ro": "Citiți integral"},
    "hc_also": {"ru": "Ещё по теме", "en": "Also on this topic", "ro": "Tot pe această temă"},
    "hc_nearest": {
        "ru": "Точного ответа не нашлось. Ближайшие статьи:",
        "en": "No exact answer. The nearest entries:",
        "ro": "Niciun răspuns exact. Cele mai apropiate articole:",
    },
    "hc_nothing": {
        "ru": "Ничего не нашлось. Попробуйте другие слова или загляните в содержание.",
        "en": "Nothing found. Try other words or browse the contents.",
        "ro": "Nu s-a găsit nimic. Încercați alte cuvinte sau răsfoiți cuprinsul.",
    },
    "hc_group_articles": {
        "ru": "Статьи справки Битрикс24",
        "en": "Bitrix24 helpdesk articles",
        "ro": "Articole din ajutorul Bitrix24",
    },
    "hc_group_company": {
        "ru": "Статьи компании",
        "en": "Company articles",
        "ro": "Articolele companiei",
    },
    "hc_summary": {"ru": "Коротко", "en": "In short", "ro": "Pe scurt"},
    "hc_original": {
        "ru": "Исходная статья",
        "en": "The original article",
        "ro": "Articolul original",
    },
    "hc_children": {"ru": "В этом разделе", "en": "In this section", "ro": "În această secțiune"},
    "hc_related": {"ru": "Похожие статьи", "en": "Related entries", "ro": "Articole similare"},
    "hc_not_found": {
        "ru": "Такой страницы нет",
        "en": "There is no such page",
        "ro": "Această pagină nu există",
    },
    "hc_not_found_hint": {
        "ru": "Возможно, статью переименовали или удалили. Найдите её поиском или в содержании.",
        "en": "The entry may have been renamed or removed. Search for it or browse the contents.",
        "ro": "Poate articolul a fost redenumit sau șters. Căutați-l sau răsfoiți cuprinsul.",
    },
    "hc_not_allowed": {
        "ru": "Эти страницы можно только читать.",
        "en": "These pages can only be read.",
        "ro": "Aceste pagini pot fi doar citite.",
    },
    "hc_error": {
        "ru": "Что-то пошло не так. Попробуйте ещё раз чуть позже.",
        "en": "Something went wrong. Please try again a little later.",
        "ro": "Ceva nu a mers bine. Încercați din nou puțin mai târziu.",
    },
    # Why the bot decided what it did (`helpbot kb explain`, the operator's case card).
    "why_answer": {"ru": "ответ", "en": "answer", "ro": "răspuns"},
    "why_clarify": {"ru": "уточнение", "en": "clarify", "ro": "clarificare"},
    "why_escalate": {"ru": "оператору", "en": "escalate", "ro": "către operator"},
    "why_operator": {
        "ru": "оператор: человек просит позвать оператора",
        "en": "operator: the person asks for a human",
        "ro": "operator: persoana cere un operator",
    },
    "why_smalltalk": {
        "ru": "разговор ({kind}): ответ без поиска по базе",
        "en": "small talk ({kind}): answered without searching the base",
        "ro": "conversație ({kind}): răspuns fără căutare în bază",
    },
    "why_nothing": {
        "ru": "ни одна статья не подходит",
        "en": "no entry matches",
        "ro": "niciun articol nu se potrivește",
    },
    "why_top1": {"ru": "P(верно)={value}", "en": "P(right)={value}", "ro": "P(corect)={value}"},
    "why_top3": {
        "ru": "P(верная среди первых трёх)={value}",
        "en": "P(a right one in the first three)={value}",
        "ro": "P(unul corect între primele trei)={value}",
    },
    "why_lead": {"ru": "отрыв {value}", "en": "lead {value}", "ro": "avans {value}"},
    "why_and": {"ru": "и", "en": "and", "ro": "și"},
    "why_repair_layout": {
        "ru": "раскладка {original} → {repaired}",
        "en": "keyboard layout {original} → {repaired}",
        "ro": "aranjament tastatură {original} → {repaired}",
    },
    "why_repair_translit": {
        "ru": "транслит {original} → {repaired}",
        "en": "transliteration {original} → {repaired}",
        "ro": "transliterare {original} → {repaired}",
    },
    "why_repair_typo": {
        "ru": "опечатка {original} → {repaired}",
        "en": "typo {original} → {repaired}",
        "ro": "greșeală {original} → {repaired}",
    },
    "why_repair_glossary": {
        "ru": "термин {original} → {repaired}",
        "en": "term {original} → {repaired}",
        "ro": "termen {original} → {repaired}",
    },
    "why_repairs_more": {
        "ru": "и ещё {count}",
        "en": "and {count} more",
        "ro": "și încă {count}",
    },
}

PHRASES.update(OPERATOR_PHRASES)


def phrase(key: str, lang: str, **fields: object) -> str:
    """The phrase ``key`` in ``lang`` (Russian when missing), with ``fields`` filled in."""
    return phrase_in(PHRASES, key, lang, **fields)


def phrase_in(catalogue: dict[str, dict[str, str]], key: str, lang: str, **fields: object) -> str:
    """The phrase ``key`` of a channel's own ``catalogue`` (its texts live with the channel)."""
    variants = catalogue[key]
    return variants.get(lang, variants[DEFAULT_LANGUAGE]).format(**fields)


def one_line(text: str, limit: int) -> str:
    """``text`` on one line (runs of white space made one space), cut to ``limit`` characters
    with «…»: a quote of what someone wrote inside a phrase."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
