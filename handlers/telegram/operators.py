"""The operators' side: one forum supergroup, a topic per ticket. «Взять» takes a ticket, a
message in the topic reaches the person, /close and /transfer finish or hand it on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import partial

from aiogram import Bot, F, Router
from aiogram.enums import ChatMemberStatus, ContentType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, MagicData
from aiogram.types import CallbackQuery, Message, Update, User

from bot.engine import Outgoing
from bot.errors import (
    TicketClosedError,
    TicketError,
    TicketNotFoundError,
    TicketNotTakenError,
    TicketNotYoursError,
    TicketTakenError,
)
from bot.queue import OperatorQueue, TicketView
from bot.replies import Reply
from bot.texts import phrase
from handlers.telegram.callbacks import KbData, TakeData, TakeOverData
from handlers.telegram.delivery import CopySource, Deliverer
from handlers.telegram.kb import entry_key, results_markup
from handlers.telegram.topics import topic_ref
from knowledge.base import KnowledgeBase

SUPERVISORS = {ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR}
MEMBERS = {*SUPERVISORS, ChatMemberStatus.MEMBER}
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
KB_RESULTS = 5  # entries a /kb search offers
_in_topic = F.message_thread_id.is_not(None) & F.from_user.is_bot.is_(False)


def create_router() -> Router:
    """A fresh router (one per dispatcher: aiogram attaches a router to one parent only)."""
    router = Router(name=__name__)
    router.message.filter(MagicData(F.event_chat.id == F.ops_chat_id))
    router.callback_query.filter(MagicData(F.event_chat.id == F.ops_chat_id))
    router.callback_query.register(on_take, TakeData.filter())
    router.callback_query.register(on_take_over, TakeOverData.filter())
    router.callback_query.register(on_kb_pick, KbData.filter())
    router.callback_query.register(on_unknown_press)
    router.message.register(on_close, Command("close"), _in_topic)
    router.message.register(on_transfer, Command("transfer"), _in_topic)
    router.message.register(on_kb, Command("kb"), _in_topic)
    router.message.register(
        on_operator_message, _in_topic, F.content_type.in_(RELAYED), ~F.text.startswith("/")
    )
    return router


async def on_take(
    query: CallbackQuery,
    callback_data: TakeData,
    event_update: Update,
    bot: Bot,
    queue: OperatorQueue,
    deliverer: Deliverer,
    ops_lang: str,
) -> None:
    if query.message is None or not await is_member(bot, query.message.chat.id, query.from_user):
        await query.answer(phrase("op_not_member", ops_lang), show_alert=True)
        return
    try:
        then = deliverer.then(event_update.update_id)
        await queue.take(callback_data.ticket, query.from_user.full_name, then=then)
    except TicketError as exc:
        await query.answer(_problem(exc, ops_lang), show_alert=True)
        return
    deliverer.wake()  # the card is edited in place: «Взять» becomes «Забрать»
    await query.answer(phrase("op_taken_ok", ops_lang))


async def on_take_over(
    query: CallbackQuery,
    callback_data: TakeOverData,
    event_update: Update,
    bot: Bot,
    queue: OperatorQueue,
    deliverer: Deliverer,
    ops_lang: str,
) -> None:
    """«Забрать»: an administrator of the group (a supervisor) takes over someone's ticket."""
    if query.message is None or not await is_member(
        bot, query.message.chat.id, query.from_user, SUPERVISORS
    ):
        await query.answer(phrase("op_not_supervisor", ops_lang), show_alert=True)
        return
    try:
        then = deliverer.then(event_update.update_id)
        await queue.take(callback_data.ticket, query.from_user.full_name, force=True, then=then)
    except TicketError as exc:
        await query.answer(_problem(exc, ops_lang), show_alert=True)
        return
    deliverer.wake()
    await query.answer(phrase("op_taken_ok", ops_lang))


async def on_close(
    message: Message,
    command: CommandObject,
    event_update: Update,
    bot: Bot,
    queue: OperatorQueue,
    deliverer: Deliverer,
    ops_lang: str,
) -> None:
    ticket = await _ticket(message, bot, queue, deliverer, ops_lang)
    if ticket is not None and message.from_user is not None:
        name = message.from_user.full_name
        await _act(event_update, deliverer, ops_lang, ticket, queue.close, name, command.args)


async def on_transfer(
    message: Message,
    command: CommandObject,
    event_update: Update,
    bot: Bot,
    queue: OperatorQueue,
    deliverer: Deliverer,
    ops_lang: str,
) -> None:
    ticket = await _ticket(message, bot, queue, deliverer, ops_lang)
    if ticket is None:
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
        await deliverer.say_ticket(ticket.id, Reply((phrase("op_transfer_usage", ops_lang),)))
        return
    transfer = partial(queue.transfer, by=message.from_user.full_name if message.from_user else "")
    await _act(event_update, deliverer, ops_lang, ticket, transfer, colleague)


async def on_kb(
    message: Message,
    command: CommandObject,
    bot: Bot,
    queue: OperatorQueue,
    kb: KnowledgeBase,
    deliverer: Deliverer,
    ops_lang: str,
) -> None:
    """``/kb запрос``: the best entries as buttons; a press sends that entry to the person."""
    ticket = await _ticket(message, bot, queue, deliverer, ops_lang)
    if ticket is None:
        return
    query = " ".join((command.args or "").split())[:200]
    if not query:
        await deliverer.say_ticket(ticket.id, Reply((phrase("op_kb_usage", ops_lang),)))
        return
    found = [m.entry for m in kb.search(query, KB_RESULTS)]
    key = "op_kb_results" if found else "op_kb_none"
    markup = results_markup(ticket.id, found) if found else None
    await deliverer.say_ticket(ticket.id, Reply((phrase(key, ops_lang, query=query),)), markup)


async def on_kb_pick(
    query: CallbackQuery,
    callback_data: KbData,
    event_update: Update,
    bot: Bot,
    queue: OperatorQueue,
    kb: KnowledgeBase,
    deliverer: Deliverer,
    ops_lang: str,
) -> None:
    if query.message is None or not await is_member(bot, query.message.chat.id, query.from_user):
        await query.answer(phrase("op_not_member", ops_lang), show_alert=True)
        return
    entry = next((e for e in kb.entries if entry_key(e.id) == callback_data.key), None)
    try:
        if entry is None:
            raise TicketError(callback_data.ticket, "the entry is no longer in the base")
        then = deliverer.then(event_update.update_id)
        await queue.send_entry(callback_data.ticket, query.from_user.full_name, entry.id, then=then)
    except TicketError as exc:
        await query.answer(_problem(exc, ops_lang), show_alert=True)
        return
    deliverer.wake()
    await query.answer(phrase("op_kb_sent", ops_lang))


async def on_operator_message(
    message: Message,
    event_update: Update,
    queue: OperatorQueue,
    deliverer: Deliverer,
    ops_lang: str,
) -> None:
    """Whatever an operator writes in a ticket's topic goes to the person (a closed ticket's
    refusal, ``TicketClosedError``, is told in the topic by :func:`_act`)."""
    ticket = await _topic_ticket(message, queue)
    if ticket is None or message.from_user is None:
        return  # a topic that is not a ticket's: operators talking among themselves
    text = (
        message.text or message.caption or phrase("op_media", ops_lang, kind=message.content_type)
    )
    copy = None if message.text else CopySource(message.chat.id, message.message_id)
    name = message.from_user.full_name
    await _act(event_update, deliverer, ops_lang, ticket, queue.reply, name, text, copy=copy)


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


async def _ticket(
    message: Message, bot: Bot, queue: OperatorQueue, deliverer: Deliverer, lang: str
) -> TicketView | None:
    """The topic's ticket for a member's command; otherwise a short reply in the topic."""
    notice = ""
    ticket = await _topic_ticket(message, queue)
    if message.from_user is None or not await is_member(bot, message.chat.id, message.from_user):
        notice = phrase("op_not_member", lang)
    elif ticket is None:
        notice = phrase("op_no_ticket", lang)
    if not notice:
        return ticket
    await deliverer.say(message.chat.id, Reply((notice,)), thread_id=message.message_thread_id)
    return None


async def _topic_ticket(message: Message, queue: OperatorQueue) -> TicketView | None:
    if message.message_thread_id is None:
        return None
    return await queue.by_external_ref(topic_ref(message.chat.id, message.message_thread_id))


async def _act(
    update: Update,
    deliverer: Deliverer,
    lang: str,
    ticket: TicketView,
    action: Callable[..., Awaitable[list[Outgoing]]],
    *args: object,
    copy: CopySource | None = None,
) -> None:
    """Run a queue action, its outbox rows in its transaction; a refusal is told in the topic."""
    try:
        await action(ticket.id, *args, then=deliverer.then(update.update_id, copy))
    except TicketError as exc:
        await deliverer.say_ticket(ticket.id, Reply((_problem(exc, lang),)))
        return
    deliverer.wake()


def _problem(exc: TicketError, lang: str) -> str:
    if isinstance(exc, TicketNotYoursError):
        return phrase("op_not_yours", lang, ticket=exc.ticket_id, operator=exc.operator)
    if isinstance(exc, TicketNotTakenError):
        return phrase("op_not_taken", lang, ticket=exc.ticket_id)
    if isinstance(exc, TicketTakenError):
        return phrase("op_already_taken", lang, operator=exc.operator)
    if isinstance(exc, TicketClosedError):
        return phrase("op_not_open", lang, ticket=exc.ticket_id)
    if isinstance(exc, TicketNotFoundError):
        return phrase("op_no_ticket", lang)
    return exc.reason[:200]
