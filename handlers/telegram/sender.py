"""The Telegram channel's sends: its send limits, and each Bot API answer mapped to an Outcome.

The failure policy itself (retries, pauses, giving up) is :mod:`bot.delivery`'s. Here: a 429
pauses the chat it came from (the operators' group's flood control never delays the answers to
people; the in-process bucket for all chats keeps the bot under Telegram's overall limit); a
403 from a person is :class:`Unreachable`; a 401 is :class:`NotReady`; any other refusal of a
send to a person (400, e.g. VOICE_MESSAGES_FORBIDDEN) is told in the ticket's topic; a deleted
topic is forgotten and recreated while its ticket is open, and left gone once it is finished;
closing a topic already closed (TOPIC_NOT_MODIFIED) is done; an ephemeral notice Telegram
refuses is posted visibly; a group upgraded to a supergroup (``migrate_to_chat_id``) fails the
call with an error naming the new id; a 404 (a method this Bot API server does not have:
telegram-bot-api answers 404 for nothing else, Client.cpp turns TDLib's 404s into 400s) fails
at once; 5xx, HTML error pages and network errors are retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    CloseForumTopic,
    CopyMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    SetMessageReaction,
    TelegramMethod,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channel import Draft
from bot.delivery import Call, Done, Failed, NotReady, Outcome, Retry, Scope, Unreachable
from bot.delivery.outcome import ANSWER
from bot.engine import ConversationEngine, Event
from bot.errors import HelpbotError
from handlers.telegram.botapi import BotApi
from handlers.telegram.calls import CARD_EDIT, CHANNEL, EPHEMERAL
from handlers.telegram.delivery import Deliverer
from handlers.telegram.reactions import QUESTION_OF, REACTION
from handlers.telegram.sendlimits import SharedSendLimits
from handlers.telegram.settings import TelegramSettings
from handlers.telegram.topics import TopicGone, Topics

log = logging.getLogger(__name__)

METHODS: dict[str, type[TelegramMethod[Any]]] = {
    "sendMessage": SendMessage,
    "copyMessage": CopyMessage,
    "closeForumTopic": CloseForumTopic,
    "editMessageReplyMarkup": EditMessageReplyMarkup,
    "editMessageText": EditMessageText,
    "setMessageReaction": SetMessageReaction,
}
MAX_BUCKETS = 1000  # per-chat limiters kept before idle ones are dropped
# A deleted topic: TOPIC_DELETED while TDLib still caches it, then "message thread not found";
# closing or reopening it, TOPIC_ID_INVALID (tests/fakes/telegram/topics.py cites the sources).
_TOPIC_GONE = ("message thread not found", "topic_deleted", "topic_id_invalid")


class Bucket:
    """A token bucket: ``rate`` sends per second, ``burst`` at once."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate, self._burst = rate, max(burst, 1.0)
        self._tokens, self._at = self._burst, now

    def delay(self, now: float) -> float:
        """Seconds until one send is allowed."""
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._rate

    def full(self, now: float) -> bool:
        self.delay(now)
        return self._tokens >= self._burst

    def take(self, now: float) -> None:
        self.delay(now)
        self._tokens -= 1


class TelegramSender:
    """The Telegram channel (:class:`bot.channel.Channel`): renders events, sends calls."""

    name = CHANNEL

    def __init__(
        self,
        bot: Bot,
        settings: TelegramSettings,
        *,
        topics: Topics | None,
        deliverer: Deliverer,
        monotonic: Callable[[], float] = time.monotonic,
        shared_limits: SharedSendLimits | None = None,
        engine: ConversationEngine | None = None,
    ) -> None:
        self._api = BotApi(bot, METHODS)
        self._engine = engine  # hands an answer given up to the operators
        self._settings = settings
        self._topics = topics
        self._deliverer = deliverer
        self._now = monotonic
        self._shared = shared_limits
        self._global = Bucket(settings.global_per_second, settings.global_per_second, monotonic())
        self._chats: dict[str, Bucket] = {}
        self._reopened: set[int] = set()  # topics reopened for a late notice, to close again

    def render(self, event: Event) -> list[Draft]:
        """The Telegram calls of ``event`` (pure: see :mod:`handlers.telegram.calls`)."""
        return self._deliverer.calls.render(event)

    async def pace(self, call: Call) -> float:
        now = self._now()
        wait = max(self._bucket(call.chat_id).delay(now), self._global.delay(now))
        if wait <= 0 and self._shared is not None:  # the other replicas' sends count too
            overall = (self._settings.global_per_second, self._settings.global_per_second)
            wait = await self._shared.take(call.chat_id, self._rate(call.chat_id), overall)
        if wait <= 0:
            self._bucket(call.chat_id).take(now)
            self._global.take(now)
            self._forget_idle_chats()
        return wait

    async def unreachable(self, session: AsyncSession, ticket_id: int) -> None:
        await self._deliverer.person_blocked(session, ticket_id)

    async def undelivered(self, session: AsyncSession, call: Call, reason: str) -> None:
        if self._engine is not None:
            events = await self._engine.undelivered(session, CHANNEL, call.chat_id, reason)
            await self._deliverer.write(session, events)

    async def send(self, call: Call) -> Outcome:
        if call.to_topic and (self._topics is None or call.ticket_id is None):
            return Failed("no operators' group")
        if call.kind == CARD_EDIT:  # rendered now: the card as it is when the edit goes out
            edit = (
                None if call.ticket_id is None else await self._deliverer.card_edit(call.ticket_id)
            )
            if edit is None:
                log.info("no card to edit outbox=%s", call.id)
                return Done()
            call = replace(call, params=edit)
        if call.kind == REACTION:  # on the question the ticket was opened with, found now
            params = {k: v for k, v in call.params.items() if k != QUESTION_OF}
            question = await self._deliverer.question_of(int(call.params.get(QUESTION_OF, 0)))
            if question is None:
                log.info("no question to react to outbox=%s", call.id)
                return Done()
            call = replace(call, params={**params, "message_id": question})
        try:
            result = await self._call(call)
        except TopicGone as exc:  # a finished ticket's topic was deleted: nothing to post into
            log.info("outbox row not sent, %s outbox=%s", exc, call.id)
            return Done()
        except HelpbotError as exc:  # the ticket behind a topic row is gone
            return Failed(str(exc))
        except TelegramRetryAfter as exc:
            return Retry("flood control", after=exc.retry_after, scope=Scope.chat(call.chat_id))
        except TelegramUnauthorizedError as exc:
            return NotReady(f"Telegram rejected the bot token: {exc.message}")
        except TelegramForbiddenError as exc:
            if _group(call.chat_id):
                return Failed(f"the bot cannot write to the group: {exc.message}")
            return Unreachable(call.chat_id, exc.message)
        except TelegramBadRequest as exc:
            return await self._bad_request(call, exc)
        except TelegramMigrateToChat as exc:
            return _migrated(call, exc.migrate_to_chat_id)
        except TelegramNotFound as exc:  # the server's only 404: "Not Found: method not found"
            log.error(
                "the Bot API server has no %s outbox=%s: %s", call.method, call.id, exc.message
            )
            return Failed(exc.message)
        except TelegramNetworkError as exc:  # no answer: the call may have been made
            return Retry(exc.message, unknown=True)
        except TelegramAPIError as exc:  # 5xx and the like: an answer came, nothing was sent
            return Retry(exc.message)
        except ClientDecodeError as exc:
            return _undecoded(exc)
        await self._after_sent(call)
        return Done(_message_id(result))

    async def _after_sent(self, call: Call) -> None:
        if call.ticket_id in self._reopened and self._topics is not None:
            self._reopened.discard(call.ticket_id)
            with suppress(TelegramAPIError):  # a notice after close: close the topic again
                await self._topics.close_if_finished(call.ticket_id)

    def _forget_idle_chats(self) -> None:
        """Drop the buckets of chats that are back to a full burst: they behave as new ones."""
        if len(self._chats) > MAX_BUCKETS:
            now = self._now()
            self._chats = {c: b for c, b in self._chats.items() if not b.full(now)}

    def _bucket(self, chat_id: str) -> Bucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            bucket = Bucket(*self._rate(chat_id), self._now())
            self._chats[chat_id] = bucket
        return bucket

    def _rate(self, chat_id: str) -> tuple[float, float]:
        """One chat's sends a second and burst."""
        if _group(chat_id):  # groups: 20 a minute for all topics together
            per_minute = self._settings.group_per_minute
            return per_minute / 60, per_minute
        rate = self._settings.chat_per_second
        return rate, max(3 * rate, 1)

    async def _call(self, call: Call) -> Any:
        params = dict(call.params)
        if call.to_topic and self._topics is not None and call.ticket_id is not None:
            params["message_thread_id"] = await self._topics.thread(call.ticket_id)
        try:
            return await self._api.call(call.method, {"chat_id": int(call.chat_id), **params})
        except TelegramBadRequest as exc:
            if EPHEMERAL not in params:
                raise
            # Not shown to one operator alone (the receiver left, an older server): shown to
            # the topic instead.
            log.info("ephemeral notice refused, sent visibly outbox=%s: %s", call.id, exc.message)
            visible = {k: v for k, v in params.items() if k != EPHEMERAL}
            return await self._api.call(call.method, {"chat_id": int(call.chat_id), **visible})

    async def _bad_request(self, call: Call, exc: TelegramBadRequest) -> Outcome:
        text = exc.message.lower()
        if "message is not modified" in text:
            return Done()
        if call.kind == CARD_EDIT and "message to edit not found" in text:
            log.info("ticket card gone, not edited outbox=%s ticket=%s", call.id, call.ticket_id)
            return Done()
        if call.to_topic and call.ticket_id is not None and self._topics is not None:
            if call.method == "closeForumTopic" and "topic_not_modified" in text:
                return Done()  # an operator closed it already
            if any(gone in text for gone in _TOPIC_GONE):
                return await self._topic_gone(call, exc)
            if "topic_closed" in text:
                if call.method == "closeForumTopic":
                    return Done()
                await self._topics.reopen(call.ticket_id)
                self._reopened.add(call.ticket_id)
                return Retry(exc.message, after=0.0)
        if call.method == "setMessageReaction":  # a courtesy: never worth more than a line
            log.warning("reaction refused outbox=%s: %s", call.id, exc.message)
            return Failed(exc.message)
        # A person's answer given up is handed to the operators with its give-up (the worker's
        # Channel.undelivered): no second notice here.
        if not _group(call.chat_id) and call.ticket_id is not None and call.kind != ANSWER:
            log.warning(
                "person refused a message outbox=%s ticket=%s: %s",
                call.id, call.ticket_id, exc.message,
            )  # fmt: skip
            await self._deliverer.say_not_delivered(call.ticket_id, exc.message)
        return Failed(exc.message)

    async def _topic_gone(self, call: Call, exc: TelegramBadRequest) -> Outcome:
        """The ticket's topic was deleted: forgotten; an open ticket gets a new one with its card,
        a finished one none (its rows are done, unsent: no topic opened for a closed ticket)."""
        assert self._topics is not None and call.ticket_id is not None
        await self._topics.forget(call.ticket_id)
        if call.method == "closeForumTopic" or not await self._topics.is_open(call.ticket_id):
            log.info("outbox row not sent, the finished ticket's topic is gone outbox=%s", call.id)
            return Done()
        await self._deliverer.card_again(call.ticket_id)
        return Retry(exc.message, after=0.0)


def _migrated(call: Call, new_id: int) -> Outcome:
    """The group was upgraded to a supergroup under a new id (400 with ``migrate_to_chat_id``:
    Bot API ResponseParameters; aiogram raises TelegramMigrateToChat). Turning topics on in a
    basic group does that, so it is the operators' group set up by its old id: no call to the
    old id can ever succeed (retrying would only hold the group's rows until the give-up), and
    its topics must be made in the new group, so the setting has to change."""
    log.error(
        "the group was upgraded to a supergroup: set OPERATOR_CHAT_ID=%s outbox=%s chat=%s",
        new_id, call.id, call.chat_id,
    )  # fmt: skip
    return Failed(f"group {call.chat_id} is now supergroup {new_id} (set OPERATOR_CHAT_ID)")


def _group(chat_id: str) -> bool:
    return chat_id.startswith("-")


def _message_id(result: Any) -> str | None:
    if isinstance(result, dict):
        found = result.get("message_id")
    else:
        found = getattr(result, "message_id", None)
    return None if found is None else str(found)


def _undecoded(exc: ClientDecodeError) -> Outcome:
    """An answer aiogram could not read: a success from a newer Bot API, or an error page.

    A JSON ``{"ok": true}`` answer means the call was made (its result has a shape aiogram
    does not know yet): sending it again would double it. An HTML page is the front end's
    error (502/504): the Bot API server did not take the call.
    """
    data = exc.data
    if isinstance(data, dict):
        if data.get("ok") is True:
            return Done(_message_id(data.get("result")))
        return Retry(str(data.get("description") or "unreadable error answer"))
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    if "<html" in text.lower():
        return Retry("an HTML error page from the Bot API's front end")
    return Retry("an answer cut short", unknown=True)
