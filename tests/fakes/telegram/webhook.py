"""Webhook delivery as telegram-bot-api's WebhookActor does it: per-chat order, retries, backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..notify import Signal
from .updates import PendingUpdate, UpdateQueue

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ReplyHandler = Callable[[str, bytes], Awaitable[None]]


@dataclass(frozen=True)
class WebhookPolicy:
    """Retry schedule: immediate, then base, 2*base, 4*base ... up to cap; bounded attempts.

    Telegram uses base 2 s, a 60-120 s cap and keeps trying for ~24 h; tests shrink all three.
    """

    retry_base: float = 2.0
    retry_cap: float = 60.0
    max_attempts: int = 8
    timeout: float = 60.0
    idle_wake: float = 1.0  # the delivery loop re-checks at least this often

    def delay(self, attempts: int) -> float:
        if attempts <= 1:
            return 0.0
        return min(self.retry_base * 2.0 ** (attempts - 2), self.retry_cap)


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None
    max_connections: int
    set_at: float
    last_error_date: int | None = None
    last_error_message: str | None = None


class WebhookDelivery:
    """POSTs pending updates to the webhook; one update in flight per chat, chats in parallel."""

    def __init__(
        self, queue: UpdateQueue, signal: Signal, policy: WebhookPolicy, on_reply: ReplyHandler
    ) -> None:
        self.queue = queue
        self.signal = signal
        self.policy = policy
        self.config: WebhookConfig | None = None
        self.dropped: list[dict[str, Any]] = []  # updates given up after max_attempts
        self.on_reply = on_reply
        self.suspended = False  # the token was revoked: nothing is delivered
        self._session: aiohttp.ClientSession | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._in_flight: dict[int, asyncio.Task[None]] = {}

    async def start(self, config: WebhookConfig, *, deliver: bool = True) -> None:
        """Use `config`; with `deliver=False` (a public URL the fake must never contact)
        updates only wait, as they would while Telegram cannot reach the webhook."""
        await self.stop()
        self.config = config
        self.queue.webhook_active = True
        if not deliver:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._loop_task = asyncio.create_task(self._run(), name="fake-telegram-webhook")

    async def stop(self) -> None:
        """Forget the webhook; updates in flight stay pending for the next consumer."""
        self.config = None
        self.queue.webhook_active = False
        tasks = [t for t in (self._loop_task, *self._in_flight.values()) if t is not None]
        self._loop_task = None
        self._in_flight.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.signal.notify()

    async def close(self) -> None:
        await self.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _eligible(self, config: WebhookConfig, now: float) -> list[PendingUpdate]:
        chosen: list[PendingUpdate] = []
        if self.suspended:
            return chosen
        seen: set[int] = set()
        free = config.max_connections - len(self._in_flight)
        for update in self.queue.pending:
            if len(chosen) >= free:
                break
            if update.queue_key in seen or update.queue_key in self._in_flight:
                seen.add(update.queue_key)
                continue
            seen.add(update.queue_key)  # later updates of this chat wait for this one
            if update.not_before <= now:
                chosen.append(update)
        return chosen

    async def _run(self) -> None:
        while self.config is not None and not self.queue.closing:
            config = self.config
            now = time.monotonic()
            self.queue.expire()
            for update in self._eligible(config, now):
                self._in_flight[update.queue_key] = asyncio.create_task(
                    self._deliver(config, update), name=f"fake-telegram-deliver-{update.update_id}"
                )
            waits = [u.not_before - now for u in self.queue.pending if u.not_before > now]
            await self.signal.wait(min([self.policy.idle_wake, *waits]))

    async def _deliver(self, config: WebhookConfig, update: PendingUpdate) -> None:
        assert self._session is not None
        headers = {SECRET_HEADER: config.secret_token} if config.secret_token else {}
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout)
        error: str | None = None
        retry_after: float | None = None
        reply: tuple[str, bytes] | None = None
        try:
            async with self._session.post(
                config.url, json=update.to_json(), headers=headers, timeout=timeout
            ) as response:
                body = await response.read()
                if 200 <= response.status < 300:
                    reply = (response.headers.get("Content-Type", ""), body)
                else:
                    error = f"Wrong response from the webhook: {response.status} {response.reason}"
                    retry_after = _retry_after(response.headers.get("Retry-After"))
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientConnectorError:
            error = "Connection refused"
        except aiohttp.ClientError as exc:
            error = f"Connection error: {type(exc).__name__}"
        finally:
            self._in_flight.pop(update.queue_key, None)
        if error is None:
            self.queue.remove(update)
            if reply is not None and reply[1].strip():
                await self.on_reply(*reply)
        else:
            self._failed(config, update, error, retry_after)
        self.signal.notify()

    def _failed(
        self, config: WebhookConfig, update: PendingUpdate, error: str, retry_after: float | None
    ) -> None:
        log.debug("webhook delivery of update %s failed: %s", update.update_id, error)
        config.last_error_date = int(time.time())
        config.last_error_message = error
        update.attempts += 1
        if update.attempts >= self.policy.max_attempts:
            self.dropped.append(update.to_json())
            self.queue.remove(update)
            return
        delay = retry_after if retry_after is not None else self.policy.delay(update.attempts)
        update.not_before = time.monotonic() + delay


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), 3600.0)
    except ValueError:
        return None
