"""Stored Bitrix24 events through the engine: each event's replies land in the outbox atomically.

The engine decides what is said and what happens to the conversation: the answer to a message
or press, the greeting of a new session (:meth:`ConversationEngine.welcome`), an escalation
and its hand-off (``HandToQueue``), «Помогло» (``Resolved``); the queue closes the ticket of a
line session that ended (:meth:`OperatorQueue.release`, in the transaction that notes the new
session). What the customer writes to the line's people after the hand-off is recorded in the
conversation and its ticket (:meth:`ConversationEngine.record`: no reply, no turn) — as far as
the portal shows it to the bot: ``ONIMBOTV2MESSAGEADD`` "occurs when a user sends a message in a
chat that the bot is part of" (b24restdocs ``chat-bots-v2/imbot.v2/events/events.md``), and the
hand-off makes the bot leave the chat unless the line keeps it until the session closes
(``WELCOME_BOT_LEFT=close``). What stays here are platform facts the engine never sees,
translated per chat into ``BitrixChat``:

* Whose the session is (:func:`handlers.bitrix24.ownership.judge`): only the open line's
  customer is answered, and only in a session the bot holds; an event that shows the session
  taken (an operator wrote, the owner changed, a bare ``0``) keeps the bot silent until a new
  session starts. A line operator may take a session no ticket was opened for, so this is not
  derivable from the engine's tickets.
* The session handed to the line's queue (``imopenlines.bot.session.operator``, which lets the
  queue distribute the chat) and its ticket, so that the session's end releases that ticket.
* The numbered choices last shown: this channel renders buttons as numbered lines (customers
  on connectors cannot press), and which number is which depends on that rendering (after a
  hand-off «Отменить» is left out), so a typed number is translated back into its payload here.
* When ``Resolved`` finishes the session: after ``BITRIX_FINISH_AFTER_HELPED`` minutes of
  silence, and only if the portal (``imbot.v2.Chat.get``) says the bot still holds it —
  ``imopenlines.bot.session.finish`` would take the chat from an operator.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel import Draft
from bot.clock import Clock
from bot.delivery import inbox, pipeline
from bot.engine import ConversationEngine, Event, HandToQueue, Incoming, Resolved, Say
from bot.payloads import Press
from bot.queue import OperatorQueue
from bot.storage.models import InboxUpdate
from handlers.bitrix24 import storage as repo
from handlers.bitrix24.events import ChatEvent
from handlers.bitrix24.models import BitrixChat
from handlers.bitrix24.ownership import Verdict, judge
from handlers.bitrix24.replies import BitrixCalls
from handlers.bitrix24.rest.errors import Bitrix24Error
from handlers.bitrix24.settings import BitrixSettings

log = logging.getLogger(__name__)

CHANNEL = repo.CHANNEL
FINISH = "imopenlines.bot.session.finish"
LINE_OPERATOR = "bitrix24 open line"
_NO_CANCEL = frozenset({Press.CANCEL.value})  # after a hand-off the line owns the chat
Holds = Callable[[BitrixChat], Awaitable[bool]]


async def _always(chat: BitrixChat) -> bool:
    return True


class EventProcessor:
    """Processes the channel's pending inbox rows in order; ``on_queued`` wakes the sender."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        engine: ConversationEngine,
        queue: OperatorQueue,
        clock: Clock,
        settings: BitrixSettings,
        language: str,
        on_queued: Callable[[], None],
        holds: Holds = _always,
    ) -> None:
        self._sessions = sessions
        self._holds = holds  # does the bot still hold the chat's session (asks the portal)
        self._engine = engine
        self._queue = queue
        self._clock = clock
        self._settings = settings
        self._language = language
        self._on_queued = on_queued

    async def finish_helped(self) -> int:
        """Finish the sessions of chats silent since «Помогло» for the configured minutes, when
        the bot still holds them: ``session.finish`` would take the chat from an operator."""
        minutes = self._settings.finish_after_helped
        if minutes <= 0:
            return 0
        async with self._sessions() as session:
            due = await repo.chats_to_finish(
                session, self._clock.now() - timedelta(minutes=minutes)
            )
        if not due:  # the usual look: no write transaction for nothing
            return 0
        held: dict[int, bool] = {}
        for asked in due:
            try:
                held[asked.chat_id] = await self._holds(asked)
            except Bitrix24Error as exc:  # not known now: asked again on a later pass
                log.warning("bitrix chat owner unknown chat=%s code=%s", asked.chat_id, exc.code)
        now, queued = self._clock.now(), 0
        async with self._sessions.begin() as session:
            for seen in due:
                # Locked, read afresh: a message the processor is storing for this chat now
                # (it clears helped_at) commits first, and then the chat is not finished.
                chat = await session.get(
                    BitrixChat, seen.chat_id, with_for_update=True, populate_existing=True
                )
                if chat is None or chat.helped_at != seen.helped_at or chat.chat_id not in held:
                    continue  # the customer wrote meanwhile, or the portal did not say
                chat.helped_at = None
                if not held[chat.chat_id]:
                    log.info("bitrix session not finished chat=%s: not the bot's", chat.chat_id)
                    continue
                finish = Draft(chat.dialog_id, FINISH, {"CHAT_ID": chat.chat_id}, kind="finish")
                await pipeline.store(session, CHANNEL, [finish], now)
                queued += 1
                log.info("bitrix session finish queued chat=%s after helped", chat.chat_id)
        if queued:
            self._on_queued()
        return queued

    async def handle(self, row: InboxUpdate) -> None:
        """Process one stored event (for :class:`bot.delivery.inbox.InboxWorker`, which retries
        it when this raises); the transaction that stores its effects settles it."""
        event = ChatEvent.from_json(row.payload)
        if event.kind == "join":
            await self._on_join(event)
        else:
            await self._on_message(event)
        self._on_queued()

    async def _on_join(self, event: ChatEvent) -> None:
        now = self._clock.now()
        if not event.in_open_line:
            async with self._sessions.begin() as session:
                await inbox.settle(session, now, note="ignored: not an open line")
            return
        async with self._sessions.begin() as session:
            chat = await self._new_session(session, event)
            chat.helped_at, chat.choices = None, None
            calls = self._calls(chat, event)
            welcome = self._engine.welcome(CHANNEL, chat.dialog_id)
            await pipeline.write(session, CHANNEL, welcome, pipeline.each(calls.render), now)
        log.info("bitrix welcome queued chat=%s session=%s", event.chat_id, event.session_id)

    async def _on_message(self, event: ChatEvent) -> None:
        async with self._sessions() as session:  # a read: most messages change nothing here
            known = await session.get(BitrixChat, event.chat_id) if event.in_open_line else None
        verdict = judge(event, known)
        recorded = verdict.to_line and event.kind == "message" and bool(event.text.strip())
        if not verdict.speaks and not recorded:
            async with self._sessions.begin() as session:
                await self._silent(session, event, verdict)
            return
        if known is not None and _ended(known, event) is not None:
            async with self._sessions.begin() as session:  # before the engine reads the ticket
                await self._new_session(session, event)
        incoming = self._incoming(event, known, verdict)
        if not verdict.speaks:  # the customer wrote to the line's people: history only

            async def record(session: AsyncSession, events: list[Event]) -> None:
                await self._silent(session, event, verdict, recorded=True)

            await self._engine.record(incoming, then=record)
            return

        async def then(session: AsyncSession, events: list[Event]) -> None:
            await self._outbox(session, event, events)

        await self._engine.handle(incoming, then=then)

    def _incoming(self, event: ChatEvent, known: BitrixChat | None, verdict: Verdict) -> Incoming:
        payload = event.payload if event.kind == "command" else ""
        text = event.text if event.kind == "message" else ""
        if verdict.speaks and text and known is not None and event.session_id == known.session_id:
            picked = _typed_choice(text, known.choices)
            text, payload = ("", picked) if picked else (text, payload)
        return Incoming(
            channel=CHANNEL,
            conversation_id=event.dialog_id,
            person_id=event.user_id,
            text=text,
            payload=payload,
            display_name=event.user_name,
            message_id=event.key,
        )

    async def _silent(
        self, session: AsyncSession, event: ChatEvent, verdict: Verdict, *, recorded: bool = False
    ) -> None:
        """Settle an event the bot does not answer, in the caller's transaction (``recorded``:
        the engine's, which stored the customer's message); a ``taken`` verdict: the session is
        not the bot's (and a handed-off one it ends is released)."""
        why = verdict.why
        if verdict.taken:
            chat = await self._new_session(session, event)
            if chat.handed_session != event.session_id:
                log.info("bitrix session taken chat=%s why=%s", event.chat_id, why)
            chat.handed_session, chat.helped_at, chat.choices = event.session_id, None, None
        done = "recorded, not answered" if recorded else "ignored"
        await inbox.settle(session, self._clock.now(), note=f"{done}: {why}")
        log.info("bitrix event %s key=%s chat=%s why=%s", done, event.key, event.chat_id, why)

    async def _outbox(self, session: AsyncSession, event: ChatEvent, out: list[Event]) -> None:
        """Inside the engine's transaction: the chat's row noted (its session, the choices
        shown, the hand-off), then the events rendered with it — replies and the hand-off
        become outbox rows — and the event settled (:func:`bot.delivery.pipeline.write`)."""
        now = self._clock.now()
        chat = await self._chat(session, event)  # what render needs, read before it
        if event.session_id and event.session_id != chat.session_id:  # the first seen
            chat.session_id, chat.choices = event.session_id, None
        helped = any(isinstance(o, Resolved) for o in out)
        chat.helped_at = now if helped else None  # the engine's word: the session may end
        handed = any(isinstance(o, HandToQueue) for o in out)
        calls = self._calls(chat, event, _NO_CANCEL if handed else frozenset())
        for item in out:
            if isinstance(item, Say):
                chat.choices = calls.choices(item)
            elif isinstance(item, HandToQueue):
                chat.handed_session, chat.ticket_id = event.session_id, item.ticket_id
                ref = f"bitrix24:chat{chat.chat_id}:session{event.session_id or '?'}"
                await repo.set_ticket_ref(session, item.ticket_id, ref)
                log.info(
                    "bitrix hand-off queued chat=%s session=%s ticket=%s",
                    chat.chat_id,
                    event.session_id,
                    item.ticket_id,
                )
        # The events in order: the card's note just before the hand-off.
        await pipeline.write(session, CHANNEL, out, pipeline.each(calls.render), now)

    def _calls(
        self, chat: BitrixChat, event: ChatEvent, drop: frozenset[str] = frozenset()
    ) -> BitrixCalls:
        bot_id = event.bot_id or chat.bot_id
        return BitrixCalls(chat.dialog_id, chat.chat_id, bot_id, self._language, drop)

    async def _chat(self, session: AsyncSession, event: ChatEvent) -> BitrixChat:
        return await repo.chat(
            session,
            event.chat_id,
            dialog_id=event.dialog_id,
            bot_id=event.bot_id,
            now=self._clock.now(),
        )

    async def _new_session(self, session: AsyncSession, event: ChatEvent) -> BitrixChat:
        """The chat's row, with the event's session noted; a handed-off session that the event
        shows has ended frees the bot, and the queue releases its ticket
        (:meth:`OperatorQueue.release`) in this same transaction: the line's session ended is a
        platform fact only this channel sees, and the two are never committed apart.

        The release comes first: it locks the conversation before this chat's row is written,
        the order every other transaction that writes both takes (the engine's turn, an
        operator's reply through ``helpbot operator``).
        """
        known = await session.get(BitrixChat, event.chat_id)
        ended = None if known is None else _ended(known, event)
        if ended is not None:
            await self._queue.release(session, ended, LINE_OPERATOR, "the open-line session ended")
        chat = await self._chat(session, event)
        if not event.session_id or event.session_id == chat.session_id:
            return chat
        chat.session_id, chat.choices = event.session_id, None
        if chat.handed_session is not None and chat.handed_session != event.session_id:
            log.info("bitrix session ended chat=%s ticket=%s", chat.chat_id, chat.ticket_id)
            chat.handed_session, chat.ticket_id = None, None
        return chat


def _ended(chat: BitrixChat, event: ChatEvent) -> int | None:
    """The ticket of ``chat``'s handed-off session when ``event`` belongs to a later one."""
    if not event.session_id or event.session_id == chat.session_id:
        return None
    if chat.handed_session is None or chat.handed_session == event.session_id:
        return None
    return chat.ticket_id


def _typed_choice(text: str, shown: list[str] | None) -> str:
    """The payload of choice ``n`` when ``text`` is just that number (1-based), else "".

    Translation, not a decision: the numbers are this channel's rendering of the buttons.
    """
    number = text.strip().rstrip(".)")
    if not shown or not number.isascii() or not number.isdigit():
        return ""
    index = int(number) - 1
    return shown[index] if 0 <= index < len(shown) else ""
