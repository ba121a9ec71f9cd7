"""The operators' side: one forum supergroup, a topic per ticket. «Взять» takes a ticket, a
message in the topic reaches the person, /close and /transfer finish or hand it on.

An operator is a member writing as themself, or an administrator writing anonymously (as the
group: ``sender_chat`` is the group, ``from`` is GroupAnonymousBot, the name in
``author_signature``). Notices about one operator's own action (a usage hint, "already taken",
"no ticket here") are ephemeral messages only they see (Bot API 10.2); the outbox posts them
visibly when Telegram refuses that.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatMemberStatus, ContentType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, MagicData
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User

from bot.errors import (
    TicketClosedError,
    TicketError,
    TicketNotFoundError,
    TicketNotTakenError,
    TicketNotYoursError,
    TicketTakenError,
)
from bot.queue import OperatorQueue, TicketView
from bot.queue.actions import Action, Answer, Close, SendEntry, Take, Transfer
from bot.replies import Reply
from handlers.telegram.callbacks import KbData, TakeData, TakeOverData
from handlers.telegram.calls import CopySource
from handlers.telegram.delivery import Deliverer
from handlers.telegram.filters import Now
from handlers.telegram.kb import entry_key, results_markup
from handlers.telegram.texts import tg_phrase
from handlers.telegram.topics import topic_ref

SUPERVISORS = {ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR}
MEMBERS = {*SUPERVISORS, ChatMemberStatus.MEMBER}
KB_RESULTS = 5  # entries a /kb search offers
RELAYED = {
    ContentType.TEXT,
    ContentType.PHOTO,
    ContentType.DOCUMENT,
    ContentType.VOICE,
    ContentType.AUDIO,
    ContentType.VIDEO,
    ContentType.VIDEO_NOTE,
    ContentType.ANIMATION,
    ContentType.STICKER,
}
log = logging.getLogger(__name__)


async def _in_topic(message: Message) -> bool:
    """A message of an operator (not a bot, not a service message's author) inside a topic (a
    coroutine: aiogram runs a plain function filter in a thread; see handlers.telegram.filters)."""
    return message.message_thread_id is not None and operator_name(message) is not None


def operator_name(message: Message) -> str | None:
    """Who wrote it: the member, the anonymous administrator's signature (or the group's
    title), or ``None`` for a bot."""
    if _anonymous(message):
        return message.author_signature or message.chat.title or str(message.chat.id)
    if message.from_user is None or message.from_user.is_bot:
        return None
    return message.from_user.full_name


def _anonymous(message: Message) -> bool:
    """Posted by an administrator as the group itself (only administrators can)."""
    return message.sender_chat is not None and message.sender_chat.id == message.chat.id


def _receiver(message: Message) -> int | None:
    """Whom a notice about this message may be shown to alone (nobody, for an anonymous one)."""
    if _anonymous(message) or message.from_user is None:
        return None
    return message.from_user.id


@dataclass(frozen=True, slots=True)
class Desk:
    """What every operators' handler works with, gathered once per update (``desk``)."""

    update: Update
    bot: Bot
    queue: OperatorQueue
    deliverer: Deliverer
    lang: str


async def _with_desk(
    handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
    event: TelegramObject,
    data: dict[str, Any],
) -> Any:
    data["desk"] = Desk(
        data["event_update"], data["bot"], data["queue"], data["deliverer"], data["ops_lang"]
    )
    return await handler(event, data)


def create_router() -> Router:
    """A fresh router (one per dispatcher: aiogram attaches a router to one parent only)."""
    router = Router(name=__name__)
    router.message.filter(MagicData(F.event_chat.id == F.ops_chat_id))
    router.callback_query.filter(MagicData(F.event_chat.id == F.ops_chat_id))
    router.message.middleware(_with_desk)
    router.callback_query.middleware(_with_desk)
    router.callback_query.register(on_take, TakeData.filter())
    router.callback_query.register(on_take_over, TakeOverData.filter())
    router.callback_query.register(on_kb_pick, KbData.filter())
    router.callback_query.register(on_unknown_press)
    router.message.register(on_close, Command("close"), _in_topic)
    router.message.register(on_transfer, Command("transfer"), _in_topic)
    router.message.register(on_kb, Command("kb"), _in_topic)
    router.message.register(
        on_operator_message,
        _in_topic,
        Now(F.content_type.in_(RELAYED)),
        Now(~F.text.startswith("/")),
    )
    return router


async def on_take(
    query: CallbackQuery,
    callback_data: TakeData,
    desk: Desk,
) -> None:
    """Answered before the take (the answer has a window of seconds, and a late one is refused
    with "query is too old": swallowed, never a reason to run the settled take again); the take
    and its notices commit together, and the card is edited in place («Взять» becomes
    «Забрать»); a refusal is told to the presser.
    """
    take = Take(callback_data.ticket, query.from_user.full_name)
    await _press(query, desk, MEMBERS, "op_not_member", take)


async def on_take_over(
    query: CallbackQuery,
    callback_data: TakeOverData,
    desk: Desk,
) -> None:
    """«Забрать»: an administrator of the group (a supervisor) takes over someone's ticket."""
    take = Take(callback_data.ticket, query.from_user.full_name, force=True)
    await _press(query, desk, SUPERVISORS, "op_not_supervisor", take)


async def on_kb_pick(
    query: CallbackQuery,
    callback_data: KbData,
    desk: Desk,
) -> None:
    """A press on a ``/kb`` result: that entry's answer card goes to the person."""
    kb = desk.queue.kb
    entry = (
        next((e for e in kb.entries if entry_key(e.id) == callback_data.key), None) if kb else None
    )
    name = query.from_user.full_name
    send = SendEntry(callback_data.ticket, name, entry.id if entry else "")
    await _press(query, desk, MEMBERS, "op_not_member", send)


async def _press(
    query: CallbackQuery,
    desk: Desk,
    allowed: set[ChatMemberStatus],
    refusal: str,
    action: Action,
) -> None:
    """An operators' button: answered first, then the queue action with its outbox rows in its
    transaction; a refusal is told to the presser alone."""
    card = query.message
    member = card is not None and await is_member(desk.bot, card.chat.id, query.from_user, allowed)
    await _answer(query, None if member else tg_phrase(refusal, desk.lang))
    if card is None or not member:
        return
    try:
        await desk.deliverer.act(desk.queue, action)
    except TicketError as exc:
        thread = getattr(card, "message_thread_id", None)
        notice = Reply((_problem(exc, desk.lang),))
        await desk.deliverer.say(
            card.chat.id, notice, thread_id=thread, receiver=query.from_user.id
        )


async def _answer(query: CallbackQuery, alert: str | None) -> None:
    """Stop the button's spinner; too late (or answered already) is nothing to act on."""
    try:
        await query.answer(alert, show_alert=alert is not None)
    except TelegramAPIError as exc:
        log.info("callback query not answered query=%s: %s", query.id, exc.message)


async def on_close(
    message: Message,
    command: CommandObject,
    desk: Desk,
) -> None:
    act = await _command(message, desk)
    name = operator_name(message)
    if act is not None and name is not None:
        await act(Close(act.ticket.id, name, command.args, act.force))


async def on_transfer(
    message: Message,
    command: CommandObject,
    desk: Desk,
) -> None:
    act = await _command(message, desk)
    if act is None:
        return
    reply = message.reply_to_message
    colleague = (
        reply.from_user.full_name
        if reply is not None
        and reply.message_id != message.message_thread_id  # not the topic's implicit root
        and reply.from_user is not None
        and not reply.from_user.is_bot
        else (command.args or "").strip()
    )
    if not colleague:
        await act.tell(tg_phrase("op_transfer_usage", desk.lang))
        return
    by = operator_name(message)
    await act(Transfer(act.ticket.id, colleague, by, act.force))


async def on_kb(
    message: Message,
    command: CommandObject,
    desk: Desk,
) -> None:
    """``/kb запрос``: the best entries as buttons; a press sends that entry to the person."""
    act = await _command(message, desk)
    if act is None:
        return
    query = " ".join((command.args or "").split())[:200]
    if not query:
        await act.tell(tg_phrase("op_kb_usage", desk.lang))
        return
    kb = desk.queue.kb
    found = [m.entry for m in kb.search(query, KB_RESULTS)] if kb else []
    said = Reply((tg_phrase("op_kb_results" if found else "op_kb_none", desk.lang, query=query),))
    markup = results_markup(act.ticket.id, found) if found else None
    await desk.deliverer.say_ticket(act.ticket.id, said, markup=markup)  # pressable in the topic


async def on_operator_message(message: Message, desk: Desk) -> None:
    """Whatever an operator writes in a ticket's topic goes to the person, copied as it is
    (copyMessage keeps the operator's formatting, links and media); the text is what the
    transcript keeps. A closed ticket's refusal is told to the operator by :class:`_Act`."""
    ticket = await _topic_ticket(message, desk.queue)
    name = operator_name(message)
    if ticket is None or name is None:
        return  # a topic that is not a ticket's: operators talking among themselves
    text = (
        message.text
        or message.caption
        or tg_phrase("op_media", desk.lang, kind=message.content_type)
    )
    copy = CopySource(message.chat.id, message.message_id)
    act = _Act.of(message, desk, ticket)
    await act(Answer(ticket.id, name, text, act.force), copy)


async def on_unknown_press(query: CallbackQuery) -> None:
    """A button the operators' side does not know (an old card): answered, nothing done."""
    with suppress(TelegramAPIError):
        await query.answer()


async def is_member(
    bot: Bot, chat_id: int, user: User, statuses: set[ChatMemberStatus] = MEMBERS
) -> bool:
    """Whether the user belongs to the operators' group (asked from Telegram, every time);
    ``statuses`` narrows it (the administrators: supervisors)."""
    with suppress(TelegramAPIError):
        member = await bot.get_chat_member(chat_id=chat_id, user_id=user.id)
        if member.status in statuses:
            return True
        return statuses is MEMBERS and bool(getattr(member, "is_member", False))
    return False


async def _command(message: Message, desk: Desk) -> _Act | None:
    """What a member's command in a ticket's topic acts through; ``None`` (its author told
    why) when it is not one."""
    ticket = await _ticket(message, desk)
    return None if ticket is None else _Act.of(message, desk, ticket)


async def _ticket(message: Message, desk: Desk) -> TicketView | None:
    """The topic's ticket for a member's command; otherwise a short reply to its author."""
    notice = ""
    ticket = await _topic_ticket(message, desk.queue)
    user = message.from_user
    if not _anonymous(message) and (
        user is None or not await is_member(desk.bot, message.chat.id, user)
    ):
        notice = tg_phrase("op_not_member", desk.lang)
    elif ticket is None:
        notice = tg_phrase("op_no_ticket", desk.lang)
    if not notice:
        return ticket
    thread = message.message_thread_id
    await desk.deliverer.say(
        message.chat.id, Reply((notice,)), thread_id=thread, receiver=_receiver(message)
    )
    return None


async def _topic_ticket(message: Message, queue: OperatorQueue) -> TicketView | None:
    if message.message_thread_id is None:
        return None
    return await queue.by_external_ref(topic_ref(message.chat.id, message.message_thread_id))


class _Act:
    """Runs queue actions for one operator's message in a ticket's topic."""

    def __init__(
        self, desk: Desk, ticket: TicketView, receiver: int | None, force: bool = False
    ) -> None:
        """``force``: an anonymous administrator acts as the group's supervisor (Telegram does not
        say which administrator posted, so they cannot be told apart from the holder)."""
        self._desk, self.ticket, self._receiver, self.force = desk, ticket, receiver, force

    @classmethod
    def of(cls, message: Message, desk: Desk, ticket: TicketView) -> _Act:
        """The act for ``message``'s author: an anonymous administrator acts with force."""
        return cls(desk, ticket, _receiver(message), _anonymous(message))

    async def __call__(self, action: Action, copy: CopySource | None = None) -> None:
        """The action with its outbox rows in its transaction (``copy``: the operator's message
        a reply copies); a refusal is told to the author."""
        try:
            await self._desk.deliverer.act(self._desk.queue, action, copy)
        except TicketError as exc:
            await self.tell(_problem(exc, self._desk.lang))

    async def tell(self, notice: str) -> None:
        """A notice for the author alone (ephemeral), in the ticket's topic."""
        notice_reply = Reply((notice,))
        await self._desk.deliverer.say_ticket(self.ticket.id, notice_reply, receiver=self._receiver)


def _problem(exc: TicketError, lang: str) -> str:
    if isinstance(exc, TicketNotYoursError):
        return tg_phrase("op_not_yours", lang, ticket=exc.ticket_id, operator=exc.operator)
    if isinstance(exc, TicketNotTakenError):
        return tg_phrase("op_not_taken", lang, ticket=exc.ticket_id)
    if isinstance(exc, TicketTakenError):
        return tg_phrase("op_already_taken", lang, operator=exc.operator)
    if isinstance(exc, TicketClosedError):
        return tg_phrase("op_not_open", lang, ticket=exc.ticket_id)
    if isinstance(exc, TicketNotFoundError):
        return tg_phrase("op_no_ticket", lang)
    return exc.reason[:200]
