"""The Bitrix24 channel as the core sees it: pure render, and each send's answer mapped to an
Outcome (:class:`bot.channel.Channel`).

The render is :class:`~handlers.bitrix24.replies.BitrixCalls`'s. A message is stored without
the bot's id, which is the portal's fact and not the chat's: ``send`` fills it in
(:func:`~handlers.bitrix24.replies.with_bot`), asking the portal for the bot with our code once
(``imbot.v2.Bot.get``; in fetch mode the poller's question at its start is that once:
:meth:`BitrixSender.bot_id`). Its failure is mapped as a send's, a bot not found makes the
channel not ready until it is registered, and a send refused because the id is not our bot's
asks again next time: the bot was registered again.

The failure policy itself (retries until the give-up deadline, pauses) is :mod:`bot.delivery`'s.
Here: ``OPERATION_TIME_LIMIT`` pauses that method until the reset its last answer announced
(minutes, not seconds); ``QUERY_LIMIT_EXCEEDED`` pauses the portal briefly; a
``MESSAGE_DUPLICATED_BY_UUID`` (the uuid is registered but its message is not posted yet, an
hour at most) is asked again later, and the portal then answers with the posted message; 5xx,
``SENDING_FAILED``, time-outs and broken connections are retried; a refused token, or a refusal
of every call (REST off on the portal's plan, :class:`PortalRefused`), makes the channel not
ready and keeps the rows, while a refusal for one chat (``ACCESS_DENIED`` from the method) gives
that call up.

Which of the send's refusals are final, from the method's page (bitrix24/b24restdocs
``api-reference/chat-bots/chat-bots-v2/imbot.v2/messages/chat-message-send.md``, "Possible Error
Codes", HTTP 400/403): ``ACCESS_DENIED`` "Bot is not a participant in the chat"
(``CheckActionAccess``), ``EMPTY_MESSAGE``, ``BOT_ID_REQUIRED`` and ``BOT_TOKEN_NOT_SPECIFIED`` are
(``Failed``: the same call would be refused again), and so is the keyboard's
``PARAM_KEYBOARD_ERROR``, which the page does not list: the core's
``FieldsValidationService::checkKeyboard``, as the fake portal that follows the core has it
(``tests/fakes/bitrix24/chatmethods.py``); ``SENDING_FAILED`` is not (see
:data:`_TRANSIENT`); ``BOT_NOT_FOUND`` / ``BOT_OWNERSHIP_ERROR`` ask for our bot again; the REST
server's own errors (``_includes/system-errors.md``) are mapped in
:mod:`handlers.bitrix24.rest.errors`. A person's answer given up so (``Failed``, or still failing
at the give-up deadline) is handed to the line's people once (:meth:`BitrixSender.undelivered`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channel import Draft
from bot.clock import Clock
from bot.delivery import Call, Done, Failed, NotReady, Outcome, Retry, Scope, pipeline
from bot.engine import ConversationEngine, Event, HandToQueue
from handlers.bitrix24 import storage as repo
from handlers.bitrix24.models import BitrixChat
from handlers.bitrix24.registration import find_bot_id
from handlers.bitrix24.replies import SEND, BitrixCalls, chat_number, with_bot
from handlers.bitrix24.rest.api import Bitrix24Api
from handlers.bitrix24.rest.errors import (
    AuthenticationFailed,
    Bitrix24Error,
    Bitrix24Timeout,
    OperationTimeLimit,
    PortalRefused,
    QueryLimitExceeded,
    TransportError,
)
from handlers.bitrix24.storage import CHANNEL

log = logging.getLogger(__name__)

UNKNOWN_RESET = 60.0  # seconds a blocked method waits when no answer announced its reset
MAX_RESET = 600.0  # the portal's window: a block never outlasts ten minutes
THROTTLED = 2.0  # seconds the portal is left alone after QUERY_LIMIT_EXCEEDED
# The hand-off is moot when the session is no longer the bot's (an operator answered first).
_SETTLED = {("imopenlines.bot.session.operator", "WRONG_CHAT")}
# "Error sending message" with no reason (b24restdocs chat-message-send.md; the IM module's add
# returned false): not the request's fault, so tried again. The row's templateId makes that
# safe: the portal answers a repeat with the message it posted, or MESSAGE_DUPLICATED_BY_UUID
# while the failed send still holds the uuid.
_TRANSIENT = {("imbot.v2.Chat.Message.send", "SENDING_FAILED")}
# "Bot is not a participant in the chat" (chat-message-send.md): every message into that chat,
# the notes for the line's people included, would be refused the same way.
_OUT_OF_CHAT = "ACCESS_DENIED"
# The bot id we sent as is not (or no longer) ours (``BotController::resolveBotId``).
_NOT_OUR_BOT = {"BOT_NOT_FOUND", "BOT_OWNERSHIP_ERROR"}


class BitrixSender:
    """The Bitrix24 :class:`bot.channel.Channel`: renders with ``calls``, sends as the bot
    ``bot_code`` (its id asked once); the client paces itself."""

    name = CHANNEL

    def __init__(
        self,
        client: Bitrix24Api,
        clock: Clock,
        *,
        bot_code: str,
        calls: BitrixCalls | None = None,
        engine: ConversationEngine | None = None,
    ) -> None:
        self._client = client
        self._clock = clock
        self._engine = engine  # hands an answer given up to the line's people
        self._bot_code = bot_code
        self._bot_id: int | None = None
        self.calls = calls or BitrixCalls()

    async def bot_id(self, *, fresh: bool = False) -> int | None:
        """Our bot's id on the portal (``None``: not registered), asked with ``imbot.v2.Bot.get``
        when not known yet or when ``fresh`` (the fetch-mode poller's start: a bot registered
        again has a new id) and kept for the sends, so one start asks once."""
        if fresh or self._bot_id is None:
            self._bot_id = await find_bot_id(self._client, self._bot_code)
        return self._bot_id

    def render(self, event: Event) -> list[Draft]:
        return self.calls.render(event)

    async def pace(self, call: Call) -> float:
        return 0.0  # the client's leaky bucket is the portal's limit

    async def unreachable(self, session: AsyncSession, ticket_id: int) -> None:
        return None  # a customer cannot block an open line

    async def undelivered(self, session: AsyncSession, call: Call, reason: str) -> None:
        """The engine's hand-off of an answer given up (:meth:`ConversationEngine.undelivered`),
        stored in the give-up's transaction: in an open ticket a note for the line's people;
        else a ticket whose card note says the answer did not reach the customer and the
        chat's session handed to the line's queue, as a turn's escalation does — the ticket
        keeping that session as its ref (the session's end releases it) and the chat's row
        marking it handed (:func:`~handlers.bitrix24.storage.mark_handed`: the bot is silent in
        it from then on). The chat's row is read locked once the engine holds the
        conversation (a turn's lock order), so the session named is the chat's current one.

        No ticket when that session is the line's already (handed, or taken by its people:
        they have the customer). A refusal that proves the bot out of the chat
        (:data:`_OUT_OF_CHAT`) queues no note: a note is the same method into the same chat and
        would be refused the same way; only the transfer is made (``session.operator`` is any
        user's to call, b24restdocs ``api-reference/imopenlines/openlines/chat-bots/
        imopenlines-bot-session-operator.md``), and the reason stays where ``helpbot operator``
        reads it: the new ticket's reason and card."""
        if self._engine is None:
            return
        number = chat_number(call.chat_id)
        read: list[BitrixChat] = []

        async def where(session: AsyncSession) -> str | None:
            chat = None if number is None else await repo.locked_chat(session, number)
            if chat is None:
                return ""
            if chat.handed_session is not None and chat.handed_session == chat.session_id:
                return None  # the line's people have the customer already
            read.append(chat)
            return repo.handed_ref(chat.chat_id, chat.session_id)

        events = await self._engine.undelivered(session, CHANNEL, call.chat_id, reason, ref=where)
        if read and any(isinstance(event, HandToQueue) for event in events):
            await repo.mark_handed(session, read[0])
        drafts = [draft for event in events for draft in self.calls.render(event)]
        if _out_of_chat(reason) and any(draft.method == SEND for draft in drafts):
            log.info(
                "bitrix note not queued outbox=%s chat=%s: the bot is out of the chat",
                call.id, call.chat_id,
            )  # fmt: skip
            drafts = [draft for draft in drafts if draft.method != SEND]
        await pipeline.store(session, CHANNEL, drafts, self._clock.now())

    async def send(self, call: Call) -> Outcome:
        try:
            if call.method == SEND:
                bot_id = await self.bot_id()
                if bot_id is None:
                    return NotReady(f"no bot {self._bot_code!r}: run `helpbot bitrix register`")
                call = replace(call, params=with_bot(call.params, bot_id))
            result = await self._client.call(call.method, call.params)
        except Bitrix24Error as exc:
            return self._failed(call, exc)
        log.info(
            "bitrix call made outbox=%s kind=%s chat=%s ticket=%s",
            call.id, call.kind, call.chat_id, call.ticket_id,
        )  # fmt: skip
        return Done(_sent_id(result))

    def _failed(self, call: Call, exc: Bitrix24Error) -> Outcome:
        reason = f"{exc.code}: {exc.description}" if exc.description else exc.code
        if call.method == SEND and exc.code in _NOT_OUR_BOT:
            self._bot_id = None  # registered again (a new id) or gone: asked again next time
            return Retry(reason)
        if (call.method, exc.code) in _SETTLED:
            log.info("bitrix call moot outbox=%s code=%s", call.id, exc.code)
            return Done()
        if isinstance(exc, OperationTimeLimit):
            return Retry(reason, after=self._until_reset(exc), scope=Scope.method(call.method))
        if isinstance(exc, QueryLimitExceeded):
            return Retry(reason, after=THROTTLED, scope=Scope.channel())
        if isinstance(exc, AuthenticationFailed):
            return NotReady(f"the portal refused our credentials: {exc.code}")
        if isinstance(exc, PortalRefused):  # a lapsed plan: the rows wait until it works again
            return NotReady(f"the portal refuses all REST calls: {reason}")
        if isinstance(exc, Bitrix24Timeout | TransportError):
            return Retry(reason, unknown=True)  # the portal may have made the call
        if exc.retryable or (call.method, exc.code) in _TRANSIENT:
            return Retry(reason)
        return Failed(reason)

    def _until_reset(self, exc: OperationTimeLimit) -> float:
        if exc.reset_at is None:
            return UNKNOWN_RESET
        left = exc.reset_at - self._clock.now().timestamp()
        return min(max(left, 1.0), MAX_RESET)


def _out_of_chat(reason: str) -> bool:
    """Whether a give-up's ``reason`` (:meth:`BitrixSender._failed`'s ``code: description``) is
    the send's refusal of a bot that is no participant in the chat."""
    return reason.partition(":")[0] == _OUT_OF_CHAT


def _sent_id(result: Any) -> str | None:
    if isinstance(result, dict) and "id" in result:
        return str(result["id"])[:64]
    return None
