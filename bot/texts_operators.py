"""The operators' phrases (the case card, ownership, the live terminal, figures) in Russian,
English and Romanian: part of the one catalogue, :data:`bot.texts.PHRASES`, data only."""

from __future__ import annotations

OPERATOR_PHRASES: dict[str, dict[str, str]] = {
    # The case card (bot/cases.py), the same in every operator surface.
    "case_title": {
        "ru": "Обращение №{ticket} · {status}",
        "en": "Request #{ticket} · {status}",
        "ro": "Cererea nr. {ticket} · {status}",
    },
    "case_waiting": {"ru": "ждёт {waited}", "en": "waiting {waited}", "ro": "așteaptă {waited}"},
    "case_taken": {
        "ru": "у оператора {operator}, ждал(а) {waited}",
        "en": "with {operator}, waited {waited}",
        "ro": "la {operator}, a așteptat {waited}",
    },
    "case_closed": {"ru": "закрыто", "en": "closed", "ro": "închisă"},
    "case_cancelled": {"ru": "отменено", "en": "cancelled", "ro": "anulată"},
    "case_subject": {
        "ru": "Вопрос: {subject}",
        "en": "Question: {subject}",
        "ro": "Întrebarea: {subject}",
    },
    "case_failed": {
        "ru": "Бот не смог обработать это сообщение (ошибка {error}) и передал его оператору.",
        "en": "The bot failed on this message (error {error}) and passed it to an operator.",
        "ro": "Botul nu a putut procesa acest mesaj (eroarea {error}) și l-a transmis unui "
        "operator.",
    },
    "case_undelivered": {
        "ru": "Ответ бота не дошёл до человека ({error}): ответьте ему сами.",
        "en": "The bot's answer did not reach the person ({error}): please answer them.",
        "ro": "Răspunsul botului nu a ajuns la persoană ({error}): răspundeți-i dvs.",
    },
    "op_undelivered": {
        "ru": "Ответ бота не дошёл до человека (обращение №{ticket}): {error}",
        "en": "The bot's answer did not reach the person (request #{ticket}): {error}",
        "ro": "Răspunsul botului nu a ajuns la persoană (cererea nr. {ticket}): {error}",
    },
    "case_person": {
        "ru": "Кто: {name} · {channel} · язык {language} · у него сейчас {time} ({zone})",
        "en": "Who: {name} · {channel} · language {language} · their time now {time} ({zone})",
        "ro": "Cine: {name} · {channel} · limba {language} · ora lor acum {time} ({zone})",
    },
    "case_offered": {
        "ru": "Бот предлагал:",
        "en": "The bot offered:",
        "ro": "Botul a propus:",
    },
    "case_offered_none": {
        "ru": "Бот ничего не предлагал.",
        "en": "The bot offered nothing.",
        "ro": "Botul nu a propus nimic.",
    },
    "case_why": {
        "ru": "Почему (как бот читает вопрос сейчас):",
        "en": "Why (how the bot reads the question now):",
        "ro": "De ce (cum citește botul întrebarea acum):",
    },
    "case_why_read": {
        "ru": "прочитан как «{text}»: {repairs}",
        "en": "read as «{text}»: {repairs}",
        "ro": "citită ca «{text}»: {repairs}",
    },
    "case_why_as_typed": {
        "ru": "прочитан как написан",
        "en": "read as typed",
        "ro": "citită așa cum a fost scrisă",
    },
    "case_confidence": {
        "ru": "уверенность {value}",
        "en": "confidence {value}",
        "ro": "încredere {value}",
    },
    "case_choice": {"ru": "на выбор", "en": "as a choice", "ro": "ca opțiune"},
    "case_helped": {"ru": "помогло", "en": "helped", "ro": "a ajutat"},
    "case_not_helped": {"ru": "не помогло", "en": "did not help", "ro": "nu a ajutat"},
    "case_transcript": {
        "ru": "Переписка (время {zone}):",
        "en": "Transcript ({zone} time):",
        "ro": "Conversația (ora {zone}):",
    },
    "case_pressed": {
        "ru": "нажал «{label}»",
        "en": "pressed «{label}»",
        "ro": "a apăsat «{label}»",
    },
    "case_rated": {
        "ru": "оценил {rating} из 5",
        "en": "rated {rating} of 5",
        "ro": "a evaluat {rating} din 5",
    },
    "case_pressed_unknown": {
        "ru": "нажал кнопку",
        "en": "pressed a button",
        "ro": "a apăsat un buton",
    },
    "case_earlier": {"ru": "Раньше:", "en": "Earlier:", "ro": "Anterior:"},
    "case_earlier_item": {
        "ru": "№{ticket} {date} ({status}): {question}",
        "en": "#{ticket} {date} ({status}): {question}",
        "ro": "nr. {ticket} {date} ({status}): {question}",
    },
    "case_unanswered": {
        "ru": "Последнее сообщение пользователя ещё без ответа.",
        "en": "The person's last message is still unanswered.",
        "ro": "Ultimul mesaj al persoanei este încă fără răspuns.",
    },
    "case_status_waiting": {"ru": "ждёт", "en": "waiting", "ro": "așteaptă"},
    "case_status_taken": {"ru": "в работе", "en": "taken", "ro": "preluată"},
    "case_status_closed": {"ru": "закрыто", "en": "closed", "ro": "închisă"},
    "case_status_cancelled": {"ru": "отменено", "en": "cancelled", "ro": "anulată"},
    "op_btn_take_over": {"ru": "Забрать", "en": "Take over", "ro": "Preiau eu"},
    "op_not_supervisor": {
        "ru": "Забрать чужое обращение может только администратор группы.",
        "en": "Only an administrator of the group can take over someone's request.",
        "ro": "Doar un administrator al grupului poate prelua cererea altcuiva.",
    },
    "op_not_yours": {
        "ru": "Обращение №{ticket} ведёт {operator}: отвечать, передавать и закрывать "
        "может только он(а).",
        "en": "{operator} holds request #{ticket}: only they can answer, hand it on or close it.",
        "ro": "Cererea nr. {ticket} este la {operator}: doar el/ea poate răspunde, transmite "
        "sau închide.",
    },
    "op_not_taken": {
        "ru": "Обращение №{ticket} ещё никто не взял: сначала нажмите «Взять».",
        "en": "Nobody has taken request #{ticket} yet: press «Take» first.",
        "ro": "Nimeni nu a preluat cererea nr. {ticket}: apăsați întâi «Preiau».",
    },
    "op_kb_usage": {
        "ru": "Что найти? /kb запрос — например, /kb роли доступа",
        "en": "Find what? /kb query — for example, /kb access roles",
        "ro": "Ce să caut? /kb interogare — de exemplu, /kb roluri de acces",
    },
    "op_kb_results": {
        "ru": "Статьи по запросу «{query}». Нажмите, чтобы отправить статью пользователю:",
        "en": "Entries for «{query}». Press one to send it to the person:",
        "ro": "Articole pentru «{query}». Apăsați pentru a-l trimite persoanei:",
    },
    "op_kb_none": {
        "ru": "По запросу «{query}» ничего не нашлось.",
        "en": "Nothing found for «{query}».",
        "ro": "Nu s-a găsit nimic pentru «{query}».",
    },
    "op_kb_sent": {"ru": "Отправлено.", "en": "Sent.", "ro": "Trimis."},
    # Durations: «27 с», «4 мин 10 с», «2 ч 5 мин», «3 дн 4 ч».
    "dur_s": {"ru": "{n} с", "en": "{n} s", "ro": "{n} s"},
    "dur_min": {"ru": "{n} мин", "en": "{n} min", "ro": "{n} min"},
    "dur_h": {"ru": "{n} ч", "en": "{n} h", "ro": "{n} h"},
    "dur_d": {"ru": "{n} дн", "en": "{n} d", "ro": "{n} z"},
}
