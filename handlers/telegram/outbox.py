"""The outbox worker: sends stored calls in order per chat, within limits, with bounded retries.

Flood control (429) pauses all sending for ``retry_after`` and is not counted as a failure; a
blocked person (403) fails every unsent row to them at once and marks their ticket; any other
refusal of a send to a person (400, e.g. VOICE_MESSAGES_FORBIDDEN) is told in the ticket's topic;
a deleted topic is forgotten and recreated while its ticket is open, and left gone once it is
finished; closing a topic already closed (TOPIC_NOT_MODIFIED) is done; an ephemeral notice
Telegram refuses is posted visibly; server and network errors back off, up to ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
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
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.errors import HelpbotError
from bot.metrics import Metrics
from bot.sendlimits import SharedSendLimits
from bot.settings import TelegramSettings
from bot.storage import delivery
from bot.storage.models import DeliveryStatus, OutboxMessage
from handlers.telegram.delivery import CARD_EDIT, CHANNEL, EPHEMERAL, Deliverer
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
BATCH = 200  # rows read per pass
IDLE = 1.0  # seconds between passes when nothing is due: rows another process stored
# (`helpbot operator`) wake nobody, so a quiet worker still looks this often
MAX_BACKOFF = 60.0
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


class OutboxWorker:
    """Drains the outbox; :meth:`run` loops until cancelled, woken by ``ready``."""

    def __init__(
        self,
        bot: Bot,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: TelegramSettings,
        *,
        topics: Topics | None,
        deliverer: Deliverer,
        ready: asyncio.Event,
        monotonic: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
        replica: str | None = None,
        claim_seconds: float = 30.0,
        shared_limits: SharedSendLimits | None = None,
    ) -> None:
        self._bot = bot
        self._shared = shared_limits
        self._replica = replica or delivery.default_replica()
        self._claim_seconds = claim_seconds
        self._metrics = metrics or Metrics.create()
        self._sessions = sessions
        self._clock = clock
        self._settings = settings
        self._topics = topics
        self._deliverer = deliverer
        self._ready = ready
        self._now = monotonic
        self._global = Bucket(settings.global_per_second, settings.global_per_second, monotonic())
        self._chats: dict[str, Bucket] = {}
        self._retry_at: dict[int, float] = {}
        self._paused_until = 0.0
        self._reopened: set[int] = set()  # topics reopened for a late notice, to close again

    async def run(self) -> None:
        while True:
            self._ready.clear()
            delay = await self.drain()
            if delay > 0:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._ready.wait(), delay)

    async def drain(self) -> float:
        """One pass over the pending rows; the seconds until the next pass is worth making."""
        async with self._sessions.begin() as session:  # rows this replica may send, in order
            rows = await delivery.claim_outbox(
                session, CHANNEL, self._replica, self._clock.now(), BATCH,
                hold_for=self._claim_seconds,
            )  # fmt: skip
        held: set[str] = set()  # chats whose first pending row must wait: keep their order
        due = IDLE
        for row in rows:
            if row.chat_id in held:
                continue
            wait = self._wait(row)
            if wait <= 0 and self._shared is not None:  # the other replicas' sends count too
                overall = (self._settings.global_per_second, self._settings.global_per_second)
                wait = await self._shared.take(row.chat_id, self._rate(row.chat_id), overall)
            if wait <= 0:
                self._bucket(row.chat_id).take(self._now())
                self._global.take(self._now())
                if await self._attempt(row):
                    continue
                wait = max(self._wait(row), 0.001)
            held.add(row.chat_id)
            due = min(due, wait)
        self._forget_idle_chats()
        return 0.0 if len(rows) == BATCH and due == IDLE else due

    def _forget_idle_chats(self) -> None:
        """Drop the buckets of chats that are back to a full burst: they behave as new ones."""
        if len(self._chats) > MAX_BUCKETS:
            now = self._now()
            self._chats = {c: b for c, b in self._chats.items() if not b.full(now)}

    def _wait(self, row: OutboxMessage) -> float:
        now = self._now()
        return max(
            self._paused_until - now,
            self._retry_at.get(row.id, 0.0) - now,
            self._bucket(row.chat_id).delay(now),
            self._global.delay(now),
        )

    def _bucket(self, chat_id: str) -> Bucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            bucket = Bucket(*self._rate(chat_id), self._now())
            self._chats[chat_id] = bucket
        return bucket

    def _rate(self, chat_id: str) -> tuple[float, float]:
        """One chat's sends a second and burst."""
        if chat_id.startswith("-"):  # groups: 20 a minute for all topics together
            per_minute = self._settings.group_per_minute
            return per_minute / 60, per_minute
        rate = self._settings.chat_per_second
        return rate, max(3 * rate, 1)

    async def _attempt(self, row: OutboxMessage) -> bool:
        """Try one row; ``True`` when it is finished (sent or given up)."""
        if row.to_topic and (self._topics is None or row.ticket_id is None):
            log.error("outbox row for a topic without an operators' group outbox=%s", row.id)
            await self._finish(row, DeliveryStatus.FAILED, error="no operators' group")
            return True
        if row.kind == CARD_EDIT:  # rendered now: the card as it is when the edit goes out
            edit = None if row.ticket_id is None else await self._deliverer.card_edit(row.ticket_id)
            if edit is None:
                await self._finish(row, DeliveryStatus.DONE, error="no card to edit")
                return True
            row.params = edit
        if not row.chat_id.startswith("-") and await self._blocked(row.chat_id):
            log.info("outbox row skipped, the person blocked the bot outbox=%s", row.id)
            await self._finish(row, DeliveryStatus.FAILED, error="the person blocked the bot")
            return True
        await self._mark_sending(row)
        try:
            result = await self._call(row)
        except TopicGone as exc:  # a finished ticket's topic was deleted: nothing to post into
            log.info("outbox row not sent, %s outbox=%s", exc, row.id)
            await self._finish(row, DeliveryStatus.DONE, error=f"not sent: {exc}")
            return True
        except HelpbotError as exc:  # the ticket behind a topic row is gone
            log.error("outbox row dropped outbox=%s: %s", row.id, exc)
            await self._finish(row, DeliveryStatus.FAILED, error=str(exc))
            return True
        except TelegramRetryAfter as exc:
            await self._save(row.id, sending_since=None)  # refused: certainly not sent
            self._paused_until = self._now() + exc.retry_after
            self._metrics.send_retries.inc(channel=CHANNEL)
            log.warning("flood control outbox=%s retry_after=%s", row.id, exc.retry_after)
            return False
        except TelegramForbiddenError as exc:
            await self._forbidden(row, exc)
            return True
        except TelegramBadRequest as exc:
            return await self._bad_request(row, exc)
        except (TelegramNetworkError, TelegramAPIError) as exc:
            return await self._retry(row, exc)
        message_id = getattr(result, "message_id", None)
        await self._finish(row, DeliveryStatus.DONE, sent_id=message_id)
        self._metrics.messages_out.inc(channel=CHANNEL)
        if row.ticket_id in self._reopened and self._topics is not None:
            self._reopened.discard(row.ticket_id)
            with suppress(TelegramAPIError):  # a notice after close: close the topic again
                await self._topics.close_if_finished(row.ticket_id)
        return True

    async def _mark_sending(self, row: OutboxMessage) -> None:
        """Note the call about to be made; a mark left from before means its fate is unknown.

        The Bot API takes no idempotency key and cannot list a chat's messages, so a call that
        reached Telegram just before the process died cannot be recognised: it is made again,
        and the person may see the message twice. Counted and logged so that shows.
        """
        if row.sending_since is not None:
            self._metrics.unknown_outcomes.inc(channel=CHANNEL)
            log.warning(
                "outbox row sent again after an unknown outcome outbox=%s chat=%s since=%s",
                row.id, row.chat_id, row.sending_since.isoformat(),
            )  # fmt: skip
        row.sending_since = self._clock.now()
        await self._save(row.id, sending_since=row.sending_since)

    async def _blocked(self, chat_id: str) -> bool:
        async with self._sessions() as session:
            return await delivery.person_blocked(session, CHANNEL, chat_id)

    async def _call(self, row: OutboxMessage) -> Any:
        params = dict(row.params)
        if row.to_topic and self._topics is not None and row.ticket_id is not None:
            params["message_thread_id"] = await self._topics.thread(row.ticket_id)
        method = METHODS[row.method].model_validate({"chat_id": int(row.chat_id), **params})
        return await self._bot(method)

    async def _bad_request(self, row: OutboxMessage, exc: TelegramBadRequest) -> bool:
        text = exc.message.lower()
        if "message is not modified" in text:
            await self._finish(row, DeliveryStatus.DONE)
            return True
        if row.kind == CARD_EDIT and "message to edit not found" in text:
            log.info("ticket card gone, not edited outbox=%s ticket=%s", row.id, row.ticket_id)
            await self._finish(row, DeliveryStatus.DONE, error=exc.message)
            return True
        if row.to_topic and row.ticket_id is not None and self._topics is not None:
            if row.method == "closeForumTopic" and "topic_not_modified" in text:
                await self._finish(row, DeliveryStatus.DONE)  # an operator closed it already
                return True
            if any(gone in text for gone in _TOPIC_GONE):
                return await self._topic_gone(row, exc)
            if "topic_closed" in text:
                if row.method == "closeForumTopic":
                    await self._finish(row, DeliveryStatus.DONE)
                    return True
                await self._topics.reopen(row.ticket_id)
                self._reopened.add(row.ticket_id)
                return await self._retry(row, exc, delay=0.0)
        if EPHEMERAL in row.params:  # not shown to one operator alone: shown to the topic
            log.info("ephemeral notice refused, sent visibly outbox=%s: %s", row.id, exc.message)
            row.params = {k: v for k, v in row.params.items() if k != EPHEMERAL}
            await self._save(row.id, params=row.params, sending_since=None)
            return await self._retry(row, exc, delay=0.0)
        if row.method == "setMessageReaction":  # a courtesy: never worth more than a line
            log.warning("reaction refused outbox=%s: %s", row.id, exc.message)
            await self._finish(row, DeliveryStatus.FAILED, error=exc.message)
            return True
        if not row.chat_id.startswith("-") and row.ticket_id is not None:
            log.warning(
                "person refused a message outbox=%s ticket=%s: %s",
                row.id,
                row.ticket_id,
                exc.message,
            )
            await self._finish(row, DeliveryStatus.FAILED, error=exc.message)
            await self._deliverer.say_not_delivered(row.ticket_id, exc.message)
            return True
        log.error("outbox call rejected outbox=%s method=%s: %s", row.id, row.method, exc.message)
        await self._finish(row, DeliveryStatus.FAILED, error=exc.message)
        return True

    async def _topic_gone(self, row: OutboxMessage, exc: TelegramBadRequest) -> bool:
        """The ticket's topic was deleted: forgotten; an open ticket gets a new one with its card,
        a finished one none (its rows are done, unsent: no topic opened for a closed ticket)."""
        assert self._topics is not None and row.ticket_id is not None
        await self._topics.forget(row.ticket_id)
        if row.method == "closeForumTopic" or not await self._topics.is_open(row.ticket_id):
            log.info("outbox row not sent, the finished ticket's topic is gone outbox=%s", row.id)
            await self._finish(row, DeliveryStatus.DONE, error=f"not sent: {exc.message}")
            return True
        await self._deliverer.card_again(row.ticket_id)
        return await self._retry(row, exc, delay=0.0)

    async def _retry(self, row: OutboxMessage, exc: Exception, delay: float | None = None) -> bool:
        attempts = row.attempts + 1
        if attempts >= self._settings.max_attempts:
            log.error("outbox row given up outbox=%s attempts=%d: %s", row.id, attempts, exc)
            await self._finish(row, DeliveryStatus.FAILED, error=str(exc)[:1000])  # counts it
            return True
        row.attempts = attempts
        backoff = min(MAX_BACKOFF, 0.5 * 2.0**row.attempts) if delay is None else delay
        self._retry_at[row.id] = self._now() + backoff
        self._metrics.send_retries.inc(channel=CHANNEL)
        log.warning(
            "outbox retry outbox=%s attempt=%d in=%.1fs: %s", row.id, row.attempts, backoff, exc
        )
        if not isinstance(exc, TelegramNetworkError):  # an answer came: nothing was sent
            row.sending_since = None
        await self._save(
            row.id, attempts=row.attempts, error=str(exc)[:1000], sending_since=row.sending_since
        )
        return False

    async def _forbidden(self, row: OutboxMessage, exc: TelegramForbiddenError) -> None:
        if row.chat_id.startswith("-"):
            log.error("the bot cannot write to the group chat=%s: %s", row.chat_id, exc.message)
            await self._finish(row, DeliveryStatus.FAILED, error=exc.message)
            return
        async with self._sessions.begin() as session:
            given_up = await delivery.fail_pending_for_chat(
                session, CHANNEL, row.chat_id, f"forbidden: {exc.message}"
            )
            ticket = await delivery.set_person_blocked(
                session, CHANNEL, row.chat_id, self._clock.now()
            )
        self._retry_at.pop(row.id, None)
        log.warning("person unreachable chat=%s rows_given_up=%d: %s", row.chat_id, given_up, exc)
        if ticket is not None:
            await self._deliverer.say_person_blocked(ticket.id)

    async def _finish(
        self, row: OutboxMessage, status: str, *, sent_id: object = None, error: str | None = None
    ) -> None:
        self._retry_at.pop(row.id, None)
        values: dict[str, Any] = {
            "status": status, "attempts": row.attempts + 1, "sending_since": None,
        }  # fmt: skip
        if status == DeliveryStatus.DONE:
            values["sent_at"] = self._clock.now()
            values["sent_id"] = None if sent_id is None else str(sent_id)
        if error is not None:
            values["error"] = error[:1000]
        await self._save(row.id, **values)

    async def _save(self, row_id: int, **values: Any) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values)
            )
