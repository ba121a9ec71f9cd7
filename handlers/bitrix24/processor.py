"""Stored Bitrix24 events through the engine: each event's replies land in the outbox atomically.

The engine decides what is said and what happens to the conversation: the answer to a message
or press, the greeting of a new session (:meth:`ConversationEngine.welcome`), an escalation
and its hand-off (``HandToQueue``, the ticket keeping the session as its ref), «Помогло»
(``Resolved``), and the release of the ticket of a line session that ended (``Incoming.released``:
the engine closes it in the turn of the message that shows it; a join or an event that shows
the session taken has :meth:`OperatorQueue.release` do it in the transaction that notes it). A
message runs through :func:`bot.delivery.pipeline.answer` in one transaction: the turn, the
chat's row as its events leave it (:func:`_noted`, pure), the render, the outbox rows, the
settle; the processor gives it pure functions and holds no session of the engine's. The chat's
row the verdict and the turn's input are read from is read before that transaction (most
messages change nothing in it, and a silent one needs no write transaction); the chat's events
are processed one at a time, in order, and the row's other writers set only what ``_noted``
takes from the event itself (``finish_helped``: ``helped_at``; ``helpbot operator``'s reply:
``choices``), so what ``_noted`` derives from that read is not stale. Its row is written as an
``INSERT … ON CONFLICT DO UPDATE`` of the columns it changes, not merged after a read: a row
inserted meanwhile (the first events of a new chat, handled twice when a claim lapsed) is
updated rather than failing the event, and keeps the columns the event does not change.

What the customer writes to the line's people after the hand-off is recorded in the
conversation and its ticket (:meth:`ConversationEngine.record`: no reply, no turn) — as far as
the portal shows it to the bot: ``ONIMBOTV2MESSAGEADD`` "occurs when a user sends a message in a
chat that the bot is part of" (b24restdocs
``api-reference/chat-bots/chat-bots-v2/imbot.v2/events/events.md``), and the
hand-off makes the bot leave the chat unless the line keeps it until the session closes
(``WELCOME_BOT_LEFT=close``). What stays here are platform facts the engine never sees,
translated per chat into ``BitrixChat``:

* Whose the session is (:func:`handlers.bitrix24.ownership.judge`): only the open line's
  customer is answered, and only in a session the bot holds; an event that shows the session
  taken (an operator wrote, the owner changed, a bare ``0``) keeps the bot silent until a new
  session starts. A line operator may take a session no ticket was opened for, so this is not
  derivable from the engine's tickets.
* The session handed to the line's queue (``imopenlines.bot.session.operator``, which lets the
  queue distribute the chat); its ticket's ref names that session, so that the session's end
  releases that ticket.
* The numbered choices last shown: this channel renders buttons as numbered lines (customers
  on connectors cannot press), and which number is which depends on that rendering (the line
  queue's own buttons are left out), so a typed number is translated back into its payload here.
* When ``Resolved`` finishes the session: after ``BITRIX_FINISH_AFTER_HELPED`` minutes of
  silence, and only if the portal (``imbot.v2.Chat.get``) says the bot still holds it —
  ``imopenlines.bot.session.finish`` would take the chat from an operator.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel import Draft
from bot.clock import Clock
from bot.delivery import pipeline
from bot.delivery.settle import settle
from bot.engine import ConversationEngine, Event, HandToQueue, Incoming, Release, Resolved, Say
from bot.queue import OperatorQueue
from bot.storage.db import on_commit
from bot.storage.models import InboxUpdate
from bot.storage.rows import put_row
from handlers.bitrix24 import storage as repo
from handlers.bitrix24.events import ChatEvent
from handlers.bitrix24.models import BitrixChat
from handlers.bitrix24.ownership import Verdict, judge
from handlers.bitrix24.replies import BitrixCalls, greeting
from handlers.bitrix24.rest.errors import Bitrix24Error
from handlers.bitrix24.settings import BitrixSettings

log = logging.getLogger(__name__)

CHANNEL = repo.CHANNEL
FINISH = "imopenlines.bot.session.finish"
LINE_OPERATOR = "bitrix24 open line"
ENDED = "the open-line session ended"
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
        calls: BitrixCalls | None = None,
    ) -> None:
        self._sessions = sessions
        self._holds = holds  # does the bot still hold the chat's session (asks the portal)
        self._engine = engine
        self._queue = queue
        self._clock = clock
        self._settings = settings
        self._render = pipeline.each((calls or BitrixCalls(language)).render)
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

    async def hand_over(self, row: InboxUpdate, failure: str) -> None:
        """An event the inbox gave up on (our code raised ``failure``, see
        :data:`bot.delivery.giveup.HandOver`): a customer's text in a session the bot holds goes
        to the line's queue as the engine hands a chat over (the text as typed, a number not
        read as a choice); anything else (a join, an operator's message, a session the line's
        people hold: they see the chat) has nothing to relay."""
        event = ChatEvent.from_json(row.payload)
        if event.kind != "message" or not event.text.strip():
            return
        async with self._sessions() as session:
            known = await session.get(BitrixChat, event.chat_id) if event.in_open_line else None
        verdict = judge(event, known)
        if not verdict.speaks:
            return
        incoming = replace(self._incoming(event, known, verdict), text=event.text, payload="")
        now = self._clock.now()
        await pipeline.answer(
            self._engine, incoming, self._render, self._clock,
            note=lambda out: [_noted(known, event, now, out=out)], failed=failure,
        )  # fmt: skip
        _tell(known, event)
        self._on_queued()
        log.info("bitrix given-up event handed over key=%s chat=%s", event.key, event.chat_id)

    async def _on_join(self, event: ChatEvent) -> None:
        now = self._clock.now()
        if not event.in_open_line:
            async with self._sessions.begin() as session:
                await settle(session, now, note="ignored: not an open line")
            return
        welcome = self._engine.welcome(CHANNEL, event.dialog_id)
        async with self._sessions.begin() as session:
            known = await self._release_ended(session, event)
            await put_row(session, _noted(known, event, now, out=welcome))
            await pipeline.write(session, CHANNEL, welcome, self._greeting, now)
        _tell(known, event)
        log.info("bitrix welcome queued chat=%s session=%s", event.chat_id, event.session_id)

    def _greeting(self, events: Sequence[Event]) -> list[Draft]:
        """The welcome's calls: a greeting answers no message (given up, nothing is handed
        over: :data:`~handlers.bitrix24.replies.GREETING_KIND`)."""
        return greeting(self._render(events))

    async def _on_message(self, event: ChatEvent) -> None:
        async with self._sessions() as session:  # a read: most messages change nothing here
            known = await session.get(BitrixChat, event.chat_id) if event.in_open_line else None
        verdict = judge(event, known)
        recorded = verdict.to_line and event.kind == "message" and bool(event.text.strip())
        if not verdict.speaks and not recorded:
            async with self._sessions.begin() as session:
                await self._silent(session, event, verdict)
            return
        # One transaction: the handed session's ticket released when a new session shows the
        # old one over (the engine, before it reads the ticket), the turn, the chat's row.
        incoming = self._incoming(event, known, verdict)
        ended = known is not None and _ended(known, event)
        now = self._clock.now()
        if not verdict.speaks:  # the customer wrote to the line's people: history only
            noted = ended or verdict.taken
            rows = [_noted(known, event, now, taken=verdict.taken)] if noted else []
            why = f"recorded, not answered: {verdict.why}"
            await pipeline.answer(
                self._engine, incoming, self._render, self._clock,
                note=lambda out: rows, record=True, settled=why,
            )  # fmt: skip
            if noted:
                _tell(known, event, taken=verdict.taken)
            log.info("bitrix event recorded key=%s chat=%s why=%s", event.key, event.chat_id, why)
            return
        out = await pipeline.answer(
            self._engine, incoming, self._render, self._clock,
            note=lambda out: [_noted(known, event, now, out=out)],
        )  # fmt: skip
        _tell(known, event)
        for item in out:
            if isinstance(item, HandToQueue):
                log.info(
                    "bitrix hand-off queued chat=%s session=%s ticket=%s",
                    event.chat_id,
                    event.session_id,
                    item.ticket_id,
                )

    def _incoming(self, event: ChatEvent, known: BitrixChat | None, verdict: Verdict) -> Incoming:
        payload = event.payload if event.kind == "command" else ""
        text = event.text if event.kind == "message" else ""
        if verdict.speaks and text and known is not None and event.session_id == known.session_id:
            picked = _typed_choice(text, known.choices)
            text, payload = ("", picked) if picked else (text, payload)
        released = None
        if known is not None and known.handed_session is not None and _ended(known, event):
            ref = repo.handed_ref(known.chat_id, known.handed_session)
            released = Release(ref, LINE_OPERATOR, ENDED)  # the engine closes it first
        return Incoming(
            channel=CHANNEL,
            conversation_id=event.dialog_id,
            person_id=event.user_id,
            text=text,
            payload=payload,
            display_name=event.user_name,
            message_id=event.key,
            ref=repo.handed_ref(event.chat_id, event.session_id),
            released=released,
        )

    async def _silent(self, session: AsyncSession, event: ChatEvent, verdict: Verdict) -> None:
        """Settle an event the bot does not answer, in its own transaction; a ``taken``
        verdict: the session is not the bot's (and a handed-off one it ends is released)."""
        why, now = verdict.why, self._clock.now()
        if verdict.taken:
            known = await self._release_ended(session, event)
            await put_row(session, _noted(known, event, now, taken=True))
            on_commit(session, lambda: _tell(known, event, taken=True), lambda: None)
        await settle(session, now, note=f"ignored: {why}")
        log.info("bitrix event ignored key=%s chat=%s why=%s", event.key, event.chat_id, why)

    async def _release_ended(self, session: AsyncSession, event: ChatEvent) -> BitrixChat | None:
        """The chat's row as stored; when the event shows its handed-off session ended, the
        queue releases that session's ticket (:meth:`OperatorQueue.release`) in this same
        transaction, before the chat's row is written — the order every transaction that
        writes both takes (the engine's turn locks the conversation first too). A message the
        bot answers has the engine release it in its turn instead (:class:`Release`)."""
        known = await session.get(BitrixChat, event.chat_id)
        if known is not None and _ended(known, event):
            ticket = await repo.handed_ticket(session, known)
            if ticket is not None:
                await self._queue.release(session, ticket, LINE_OPERATOR, ENDED)
        return known


def _noted(
    known: BitrixChat | None,
    event: ChatEvent,
    now: datetime,
    *,
    out: Sequence[Event] | None = None,
    taken: bool = False,
) -> BitrixChat:
    """What changes in the chat's row after ``event`` and the events ``out`` the engine
    answered it with (``None``: no turn, the message only recorded), as a row holding only
    those columns and the ones a new row needs (the chat's dialog and bot, from the event),
    written by the caller in the turn's transaction with :func:`bot.storage.rows.put_row`: an
    ``INSERT … ON CONFLICT DO UPDATE`` of those columns, so that a row inserted meanwhile by
    another transaction is updated, not a failure, and keeps its other columns. Pure: what
    changed is logged by :func:`_tell` once the transaction commits.

    A new session is noted (its choices gone, a handed-off one over); ``taken``: the session
    is the line's people's; else the engine's events decide: «Помогло» (``Resolved``) may end
    the session, the last reply's numbered choices are what a typed number means,
    ``HandToQueue`` hands the session to the line's queue."""
    row = BitrixChat(
        chat_id=event.chat_id, dialog_id=event.dialog_id, bot_id=event.bot_id, updated_at=now
    )  # a new row's session_id: its default, ""
    session = known.session_id if known is not None else ""
    if event.session_id and event.session_id != session:  # the first event of a session
        row.session_id, row.choices = event.session_id, None
        if known is not None and _ended(known, event):
            row.handed_session = None
    if out is None and not taken:
        return row
    out = out or []
    row.helped_at = now if any(isinstance(o, Resolved) for o in out) else None
    for item in out:
        if isinstance(item, Say):
            row.choices = BitrixCalls.choices(item)
    if taken or any(isinstance(o, HandToQueue) for o in out):
        for column, value in repo.handed(event.session_id).items():  # the line's from now
            setattr(row, column, value)
    return row


def _tell(known: BitrixChat | None, event: ChatEvent, *, taken: bool = False) -> None:
    """Log what :func:`_noted` changed in whose the chat's session is; called once the
    transaction that wrote it has committed (a try rolled back changed nothing)."""
    if known is not None and _ended(known, event):
        log.info("bitrix session ended chat=%s", event.chat_id)
    if taken and (known is None or known.handed_session != event.session_id):
        log.info("bitrix session taken chat=%s", event.chat_id)


def _ended(chat: BitrixChat, event: ChatEvent) -> bool:
    """Whether ``event`` belongs to a session later than ``chat``'s handed-off one."""
    if not event.session_id or event.session_id == chat.session_id:
        return False
    return chat.handed_session is not None and chat.handed_session != event.session_id


def _typed_choice(text: str, shown: list[str] | None) -> str:
    """The payload of choice ``n`` when ``text`` is just that number (1-based), else "".

    Translation, not a decision: the numbers are this channel's rendering of the buttons.
    """
    number = text.strip().rstrip(".)")
    if not shown or not number.isascii() or not number.isdigit():
        return ""
    index = int(number) - 1
    return shown[index] if 0 <= index < len(shown) else ""
