"""The operators' side: one forum supergroup, a topic per ticket. «Взять» takes a ticket, a
message in the topic reaches the person, /close and /transfer finish or hand it on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress

from aiogram import Bot, F, Router
from aiogram.enums import ChatMemberStatus, ContentType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, MagicData
from aiogram.types import CallbackQuery, Message, Update, User

from bot.engine import Outgoing
from bot.errors import TicketClosedError, TicketError, TicketTakenError
from bot.queue import OperatorQueue, TicketView
from bot.replies import Reply
from bot.texts import phrase
from handlers.telegram.callbacks import TakeData
from handlers.telegram.delivery import CopySource, Deliverer
from handlers.telegram.topics import topic_ref

MEMBERS = {ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
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
_in_topic = F.message_thread_id.is_not(None) & F.from_user.is_bot.is_(False)


def create_router() -> Router:
    """A fresh router (one per dispatcher: aiogram attaches a router to one parent only)."""
    router = Router(name=__name__)
    router.message.filter(MagicData(F.event_chat.id == F.ops_chat_id))
    router.callback_query.filter(MagicData(F.event_chat.id == F.ops_chat_id))
    router.callback_query.register(on_take, TakeData.filter())
    router.callback_query.register(on_unknown_press)
    router.message.register(on_close, Command("close"), _in_topic)
    router.message.register(on_transfer, Command("transfer"), _in_topic)
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
    deliverer.wake()
    await query.answer(phrase("op_taken_ok", ops_lang))
    await deliverer.remove_buttons(query.message.chat.id, query.message.message_id)


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
    await _act(event_update, deliverer, ops_lang, ticket, queue.transfer, colleague)


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


async def is_member(bot: Bot, chat_id: int, user: User) -> bool:
    """Whether the user belongs to the operators' group (asked from Telegram, every time)."""
    with suppress(TelegramAPIError):
        member = await bot.get_chat_member(chat_id=chat_id, user_id=user.id)
        return member.status in MEMBERS or bool(getattr(member, "is_member", False))
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
    if isinstance(exc, TicketTakenError):
        return phrase("op_already_taken", lang, operator=exc.operator)
    if isinstance(exc, TicketClosedError):
        return phrase("op_not_open", lang, ticket=exc.ticket_id)
    return phrase("op_no_ticket", lang)
