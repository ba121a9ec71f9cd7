"""The person's side: private chats. Commands, text and presses go to the engine; media is
relayed to an operator who has the conversation, otherwise the person hears the bot reads text."""

from __future__ import annotations

from contextlib import suppress

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import (
    KICKED,
    MEMBER,
    ChatMemberUpdatedFilter,
    Command,
    CommandObject,
    CommandStart,
)
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message, Update, User

from bot.delivery import pipeline
from bot.engine import ConversationEngine, Incoming
from bot.queue import OperatorQueue
from bot.replies import Reply, choose_language
from handlers.telegram.callbacks import PressData
from handlers.telegram.calls import CHANNEL, CopySource
from handlers.telegram.delivery import Deliverer
from handlers.telegram.filters import Now
from handlers.telegram.startlinks import PREFIX, EntryLinks
from handlers.telegram.texts import tg_phrase

# The adapter's own commands, matched as aiogram matches them (the exact command token, a
# mention only of this bot, text or caption): the router and the hand-off read them alike.
_START_LINK = CommandStart(deep_link=True, magic=F.args.startswith(PREFIX))
_START = CommandStart()
_HELP = Command("help")


def create_router() -> Router:
    """A fresh router (one per dispatcher: aiogram attaches a router to one parent only)."""
    router = Router(name=__name__)
    router.message.filter(Now(F.chat.type == ChatType.PRIVATE))
    router.callback_query.filter(Now(F.message.chat.type == ChatType.PRIVATE))
    router.my_chat_member.filter(Now(F.chat.type == ChatType.PRIVATE))
    router.message.register(on_start_link, _START_LINK)
    router.message.register(on_start, _START)
    router.message.register(on_help, _HELP)
    router.message.register(on_text, Now(F.text))
    router.message.register(on_media)
    router.callback_query.register(on_press, PressData.filter())
    router.callback_query.register(on_unknown_press)
    router.my_chat_member.register(on_blocked, ChatMemberUpdatedFilter(KICKED))
    router.my_chat_member.register(on_unblocked, ChatMemberUpdatedFilter(MEMBER))
    return router


async def on_start_link(
    message: Message,
    command: CommandObject,
    event_update: Update,
    engine: ConversationEngine,
    deliverer: Deliverer,
    links: EntryLinks,
) -> None:
    entry_id = links.resolve(command.args or "")
    if entry_id is None:
        await on_start(message, deliverer)
        return
    incoming = _incoming(message, event_update, text=message.text or "", entry_id=entry_id)
    await _converse(engine, deliverer, incoming)


async def on_start(message: Message, deliverer: Deliverer) -> None:
    await deliverer.say(message.chat.id, Reply((tg_phrase("tg_start", _lang(message.from_user)),)))


async def on_help(message: Message, deliverer: Deliverer) -> None:
    await deliverer.say(message.chat.id, Reply((tg_phrase("tg_help", _lang(message.from_user)),)))


async def on_text(
    message: Message,
    event_update: Update,
    engine: ConversationEngine,
    deliverer: Deliverer,
) -> None:
    """Questions, /operator (the engine reads it as a request for a human) and everything else.

    No "blocked?" bookkeeping here: a block is learnt from a refused send (or the
    ``my_chat_member`` update), an unblock from ``my_chat_member`` — Telegram sends one when
    the person restarts the bot."""
    incoming = _incoming(message, event_update, text=message.text or "")
    await _converse(engine, deliverer, incoming)


async def on_media(
    message: Message,
    event_update: Update,
    engine: ConversationEngine,
    queue: OperatorQueue,
    deliverer: Deliverer,
) -> None:
    lang = _lang(message.from_user)
    if await queue.open_ticket_for(CHANNEL, str(message.chat.id)) is None:
        await deliverer.say(message.chat.id, Reply((tg_phrase("tg_text_only", lang),)))
        return
    text = message.caption or tg_phrase("op_media", lang, kind=message.content_type)
    incoming = _incoming(message, event_update, text=text)
    copy = CopySource(message.chat.id, message.message_id)
    await _converse(engine, deliverer, incoming, copy)


async def on_press(
    query: CallbackQuery,
    callback_data: PressData,
    event_update: Update,
    engine: ConversationEngine,
    deliverer: Deliverer,
) -> None:
    with suppress(TelegramAPIError):  # a late answer must not lose the press
        await query.answer()
    user = query.from_user
    chat_id = query.message.chat.id if query.message else user.id
    incoming = Incoming(
        CHANNEL,
        str(chat_id),
        str(user.id),
        payload=callback_data.payload,
        display_name=_display(user),
        message_id=f"u{event_update.update_id}",
        language_code=user.language_code or "",
    )
    await _converse(engine, deliverer, incoming)


async def on_unknown_press(query: CallbackQuery) -> None:
    """A button from an older version of the bot: answered, so the spinner stops."""
    with suppress(TelegramAPIError):
        await query.answer()


async def on_blocked(event: ChatMemberUpdated, deliverer: Deliverer) -> None:
    await deliverer.mark_person(event.chat.id, blocked=True)


async def on_unblocked(event: ChatMemberUpdated, deliverer: Deliverer) -> None:
    await deliverer.mark_person(event.chat.id, blocked=False)


async def hand_over(
    update: Update,
    failure: str,
    engine: ConversationEngine,
    deliverer: Deliverer,
    *,
    bot: Bot,
    links: EntryLinks,
    queue: OperatorQueue,
) -> None:
    """An update the inbox gave up on (our code raised ``failure``, see
    :data:`bot.delivery.giveup.HandOver`): a person's message in their private chat goes to the
    operators as the engine hands a conversation over, what the router would have given the
    engine — text (a deep link to an entry too), media with its caption or its kind copied
    into the open ticket's topic. Media with no open ticket (the person is only told the bot
    reads text: no ticket for a photo alone), a press, an operators' group message or a command
    of the adapter's own (/start, /help) has nothing to relay."""
    message = update.message
    user = message.from_user if message is not None else None
    if message is None or user is None or user.is_bot or message.chat.type != ChatType.PRIVATE:
        return
    if await _own_command(message, bot, links):
        return
    copy = None
    if message.text is not None:
        text = message.text
    else:
        if await queue.open_ticket_for(CHANNEL, str(message.chat.id)) is None:
            return
        text = message.caption or tg_phrase("op_media", _lang(user), kind=message.content_type)
        copy = CopySource(message.chat.id, message.message_id)
    incoming = _incoming(message, update, text=text)
    await pipeline.answer(engine, incoming, deliverer.render(copy), deliverer.clock, failed=failure)
    deliverer.wake()


async def _own_command(message: Message, bot: Bot, links: EntryLinks) -> bool:
    """Whether the router gives ``message`` to the adapter's own /start or /help (a deep link
    to an entry the knowledge base has goes to the engine)."""
    link = await _START_LINK(message, bot)
    if isinstance(link, dict):
        return links.resolve(link["command"].args or "") is None
    return bool(await _START(message, bot) or await _HELP(message, bot))


async def _converse(
    engine: ConversationEngine,
    deliverer: Deliverer,
    incoming: Incoming,
    copy: CopySource | None = None,
) -> None:
    """The engine's replies go into the outbox in the engine's own transaction, with the update
    marked processed, so a crash can neither lose nor repeat them; the outbox sends them right
    after the commit (no "typing…" first: the answer takes milliseconds, and the hint would
    cost a Bot API call per message). The turn goes through :func:`bot.delivery.pipeline.answer`
    with the channel's pure render: this handler never holds the engine's session."""
    await pipeline.answer(engine, incoming, deliverer.render(copy), deliverer.clock)
    deliverer.wake()


def _incoming(message: Message, update: Update, *, text: str, entry_id: str = "") -> Incoming:
    user = message.from_user
    return Incoming(
        CHANNEL,
        str(message.chat.id),
        str(user.id if user else message.chat.id),
        display_name=_display(user),
        message_id=f"u{update.update_id}",
        language_code=(user.language_code or "") if user else "",
        text=text,
        entry_id=entry_id,
    )


def _display(user: User | None) -> str:
    if user is None:
        return ""
    return f"{user.full_name} (@{user.username})" if user.username else user.full_name


def _lang(user: User | None) -> str:
    return choose_language(user.language_code if user else None, None, "ru")
