"""Channel-neutral replies: turn a knowledge Decision into what the bot says, with its buttons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.deeplinks import entry_link
from bot.payloads import Payload, Press
from bot.texts import DEFAULT_LANGUAGE, LANGUAGES, PHRASES, phrase
from knowledge.answer import gives_path
from knowledge.model import Action, Answer, Decision, Entry, Link

MAX_CHOICES = 5


@dataclass(frozen=True, slots=True)
class Button:
    """A button: ``payload`` comes back in the press (empty where nothing can be pressed)."""

    label: str
    payload: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """What to show: a bold ``title`` (may be empty), text blocks, links and buttons.

    Nothing is escaped; the channel renders it (plain text, Telegram HTML, Bitrix24 BB-code).
    """

    blocks: tuple[str, ...]
    title: str = ""
    links: tuple[Link, ...] = ()
    buttons: tuple[Button, ...] = ()


def choose_language(channel_code: str | None, detected: str | None, default: str) -> str:
    """The channel's language code when we speak it, else the question's language, else default."""
    for code in (channel_code, detected):
        short = (code or "").split("-")[0].split("_")[0].lower()
        short = "ro" if short == "mo" else short
        if short in LANGUAGES:
            return short
    return default if default in LANGUAGES else DEFAULT_LANGUAGE


def choice_entries(decision: Decision) -> tuple[Entry, ...]:
    """The entries a clarify reply offers, in order; the engine stores their ids."""
    return tuple(m.entry for m in decision.matches[:MAX_CHOICES])


def compose(
    decision: Decision, lang: str, message_id: int | None = None, *, public_url: str = ""
) -> Reply:
    """The bot's reply to a decision; buttons carry payloads only when ``message_id`` is given;
    ``public_url`` (KB_PUBLIC_URL) gives an answer without a helpdesk article its help-center link.
    """
    action = decision.action
    if action is Action.ANSWER and decision.answer is not None:
        return answer_reply(decision.answer, lang, message_id, public_url=public_url)
    if action is Action.CLARIFY and decision.matches:
        return choices_reply(
            (phrase("clarify_intro", lang),), choice_entries(decision), lang, message_id
        )
    if action is Action.SMALLTALK:
        key = f"smalltalk_{decision.smalltalk}"
        return Reply((phrase(key if key in PHRASES else "smalltalk_greeting", lang),))
    if action is Action.OPERATOR:
        return Reply((phrase("operator", lang),))
    return Reply((phrase("escalate", lang),), buttons=(_operator_button(lang, message_id),))


def answer_reply(
    answer: Answer, lang: str, message_id: int | None = None, *, public_url: str = ""
) -> Reply:
    """An entry's answer with its link (see :func:`entry_link`) and the «Помогло» /
    «Не помогло» / «Позвать оператора» buttons."""
    blocks = list(answer.blocks)
    if answer.breadcrumb:
        blocks.insert(0, phrase("answer_section", lang, crumbs=" > ".join(answer.breadcrumb)))
    if answer.path and not gives_path(answer):
        blocks.append(phrase("answer_path", lang, path=answer.path))
    if answer.lang != lang and f"article_in_{answer.lang}" in PHRASES:
        blocks.append(phrase(f"article_in_{answer.lang}", lang))
    buttons = (
        Button(phrase("btn_helped", lang), _payload(Press.HELPED, message_id)),
        Button(phrase("btn_not_helped", lang), _payload(Press.NOT_HELPED, message_id)),
        _operator_button(lang, message_id),
    )
    # The chosen link first, then any other link the knowledge base gives, each once.
    links = tuple(
        dict.fromkeys(filter(None, (entry_link(answer.entry, public_url), *answer.links)))
    )
    return Reply(tuple(blocks), answer.entry.title, links, buttons)


def choices_reply(
    intro: Sequence[str], entries: Sequence[Entry], lang: str, message_id: int | None = None
) -> Reply:
    """A list of entries to choose from (clarify, or the next-best after «Не помогло»); the
    last button, «Ничего из этого», hands the question to an operator."""
    picks = tuple(
        Button(e.title, _payload(Press.PICK, message_id, i)) for i, e in enumerate(entries)
    )
    blocks = (*intro, phrase("clarify_hint", lang))
    none = Button(phrase("btn_none", lang), _payload(Press.OPERATOR, message_id))
    return Reply(blocks, buttons=(*picks, none))


def render_plain(reply: Reply, *, numbered_buttons: bool = True) -> str:
    """Plain text for a terminal: title, blocks, links, then buttons as ``[1] label`` lines."""
    lines = [reply.title] if reply.title else []
    lines.extend(reply.blocks)
    if reply.links:
        lines.append("\n".join(f"{link.title}: {link.url}" for link in reply.links))
    if reply.buttons and numbered_buttons:
        lines.append("\n".join(f"[{i}] {b.label}" for i, b in enumerate(reply.buttons, 1)))
    return "\n\n".join(lines)


def _operator_button(lang: str, message_id: int | None) -> Button:
    return Button(phrase("btn_operator", lang), _payload(Press.OPERATOR, message_id))


def _payload(press: Press, message_id: int | None, index: int = 0) -> str:
    return "" if message_id is None else Payload(press, message_id, index).encode()
