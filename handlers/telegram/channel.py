"""The Telegram channel's life cycle: the bot client, dispatcher, inbox, outbox and the way updates
arrive (long polling or the webhook route), started and stopped with the web application."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types.update import UpdateTypeLookupError
from aiohttp import web

from bot import logs
from bot.delivery.worker import OutboxWorker
from bot.errors import HelpbotError
from bot.queue.actions import Reflag
from bot.services import Services
from bot.storage.claims import default_replica
from bot.storage.leases import LeaseKeeper
from bot.storage.models import InboxUpdate
from handlers.settings import Settings, whole
from handlers.telegram import person
from handlers.telegram.calls import CHANNEL
from handlers.telegram.commands import setup_commands
from handlers.telegram.delivery import Deliverer
from handlers.telegram.envelope import UpdateReader
from handlers.telegram.inbox import Inbox
from handlers.telegram.polling import LEASE, Poller
from handlers.telegram.routers import setup_routers
from handlers.telegram.sender import TelegramSender
from handlers.telegram.sendlimits import SharedSendLimits
from handlers.telegram.startlinks import EntryLinks
from handlers.telegram.topics import Topics
from handlers.telegram.webhook import create_webhook_handler

log = logging.getLogger(__name__)

WORKERS = "telegram "  # the prefix of its workers' names (``telegram inbox``)
RESTART_MAX = 60.0
STOP_GRACE = 10.0  # seconds to finish the updates in hand when the app stops
REFLAG_EVERY = 60.0  # seconds between looks for tickets nobody took


class TelegramSetupError(HelpbotError):
    """The bot or the operators' group is not set up as the channel needs; the message says how."""


@dataclass
class TelegramChannel:
    """Everything the channel runs; :meth:`start_workers` hands its workers to the app."""

    services: Services
    bot: Bot
    dp: Dispatcher
    inbox: Inbox
    outbox: OutboxWorker
    deliverer: Deliverer
    reader: UpdateReader  # the webhook's and the poller's door, and the inbox's reading

    def problem(self) -> str | None:
        """Why the channel is not ready (for /readyz; its workers are watched by
        ``services.workers``), or None."""
        return self.outbox.problem

    @property
    def settings(self) -> Settings:
        return whole(self.services.settings)

    @property
    def webhook(self) -> bool:
        return self.settings.telegram.mode == "webhook"

    async def start(self) -> None:
        """Check the token and the operators' group, then point Telegram at us."""
        settings = self.settings
        try:
            me = await self.bot.me()
        except TelegramUnauthorizedError:
            raise TelegramSetupError("Telegram rejected TELEGRAM_BOT_TOKEN (revoked?)") from None
        except TelegramNetworkError as exc:
            raise TelegramSetupError(
                f"cannot reach TELEGRAM_API_URL={settings.telegram.api_url}: {exc.message}"
            ) from None
        log.info("telegram bot ready username=%s mode=%s", me.username, settings.telegram.mode)
        if settings.operator.chat_id is not None:
            await self._check_operators(settings.operator.chat_id)
        await setup_commands(
            self.bot,
            language=settings.conversation.language,
            operator_chat_id=settings.operator.chat_id,
            operator_language=settings.conversation.language,
        )
        allowed = self.dp.resolve_used_update_types()
        if self.webhook:
            secret = settings.telegram.webhook_secret
            await _flood_controlled(
                lambda: self.bot.set_webhook(
                    url=settings.telegram.webhook_url,
                    secret_token=secret.get_secret_value() if secret else None,
                    allowed_updates=allowed,
                    drop_pending_updates=False,
                )
            )
        else:
            await self.bot.delete_webhook(drop_pending_updates=False)

    def start_workers(self) -> None:
        """Start the channel's workers under the app's restart policy (until :meth:`stop`)."""
        loops = {"outbox": self.outbox.run, "inbox": self.inbox.run}
        if not self.webhook:
            loops["polling"] = self._poll
        if self.settings.operator.chat_id is not None:
            loops["reflag"] = self._reflag
        for name, loop in loops.items():
            self.services.workers.start(
                f"{WORKERS}{name}", loop, max_pause=RESTART_MAX, fatal=(TelegramUnauthorizedError,)
            )

    async def stop(self) -> None:
        """Finish the updates in hand, then the sends under way with their outcomes recorded
        (each up to STOP_GRACE), then stop every worker: a send cut short would be made again
        after a restart, and a cancelled transaction could leave SQLite's write lock held."""
        await self.inbox.stop(STOP_GRACE)
        await self.outbox.stop(STOP_GRACE)
        await self.services.workers.stop(WORKERS)

    async def _reflag(self) -> None:
        while True:
            await asyncio.sleep(REFLAG_EVERY)
            await self.reflag()

    async def reflag(self) -> int:
        """Remind operators of Telegram tickets nobody took in time, in the ticket's topic.

        Only this channel's tickets are flagged (in the transaction that queues the reminders):
        other channels' tickets wait for a reminder of their own. Returns how many were flagged.
        """
        return len(await self.deliverer.act(self.services.queue, Reflag((CHANNEL,))))

    async def _poll(self) -> None:
        allowed = self.dp.resolve_used_update_types()
        hold = self.settings.telegram.poll_timeout
        replica = self.settings.replica
        # Renewed before every long poll: it must outlive one (a poll holds up to ``hold`` s).
        ttl = replica.lease_seconds + hold + 5
        lease = LeaseKeeper(
            self.services.sessions, self.services.clock, LEASE,
            replica.id or default_replica(), ttl,
        )  # fmt: skip
        poller = Poller(
            self.bot, self.inbox, self.reader, allowed_updates=allowed, hold=hold, lease=lease
        )
        await poller.run()

    async def aclose(self) -> None:
        await self.bot.session.close()  # Redis is the services' (closed with them)

    async def _check_operators(self, chat_id: int) -> None:
        try:
            chat = await self.bot.get_chat(chat_id)
            me = await self.bot.get_chat_member(chat_id, self.bot.id)
        except TelegramAPIError as exc:
            raise TelegramSetupError(
                f"OPERATOR_CHAT_ID={chat_id}: the bot cannot see that group ({exc.message})"
            ) from None
        if not chat.is_forum:
            raise TelegramSetupError(f"OPERATOR_CHAT_ID={chat_id}: turn on Topics in that group")
        if not getattr(me, "can_manage_topics", False):
            raise TelegramSetupError(
                f"OPERATOR_CHAT_ID={chat_id}: make the bot an administrator who may manage topics"
            )


def create_telegram_channel(services: Services) -> TelegramChannel:
    """Wire the channel from the services; nothing is contacted until :meth:`start`."""
    settings = whole(services.settings)
    token = settings.telegram.bot_token
    if token is None:
        raise TelegramSetupError("TELEGRAM_BOT_TOKEN is not set")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram.api_url))
    default = DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True)
    bot = Bot(token.get_secret_value(), session=session, default=default)
    ops_chat = settings.operator.chat_id
    lang = settings.conversation.language
    ready = asyncio.Event()  # set when rows are stored: wakes the outbox worker
    deliverer = Deliverer(
        services.sessions,
        services.clock,
        services.knowledge,
        operator_chat_id=ops_chat,
        operator_language=lang,
        wake=ready.set,
        zone=settings.hours.timezone,
        public_url=settings.kb.public_url,
    )
    topics = Topics(bot, services.queue, ops_chat, lang) if ops_chat is not None else None
    sender = TelegramSender(
        bot,
        settings.telegram,
        topics=topics,
        deliverer=deliverer,
        shared_limits=None if services.redis is None else SharedSendLimits(services.redis),
        engine=services.engine,
    )
    outbox = OutboxWorker(
        sender,
        services.sessions,
        services.clock,
        policy=settings.delivery.policy,
        ready=ready,
        in_flight=settings.delivery.in_flight,
        idle=settings.delivery.idle_seconds,
        metrics=services.metrics,
        replica=settings.replica.id or None,
        claim_seconds=settings.replica.claim_seconds,
    )
    # No FSM: the conversation's state is in the database, and aiogram would otherwise read
    # its (unused) state from Redis on every update, putting Redis on the path of each one.
    links = EntryLinks(services.knowledge)
    dp = Dispatcher(
        disable_fsm=True,
        engine=services.engine,
        queue=services.queue,
        deliverer=deliverer,
        links=links,
        ops_chat_id=ops_chat,
        ops_lang=lang,
    )
    setup_routers(dp)

    reader = UpdateReader(bot)

    async def process(raw: dict[str, object]) -> object:
        update = reader.read(raw)
        try:
            update.event_type  # noqa: B018 (raises for a kind newer than aiogram)
        except UpdateTypeLookupError:
            log.info("update of a kind aiogram does not know skipped update=%s", update.update_id)
            return None
        return await dp.feed_update(bot, update)

    async def hand_over(row: InboxUpdate, failure: str) -> None:
        update = reader.read(row.payload)
        await person.hand_over(
            update, failure, services.engine, deliverer,
            bot=bot, links=links, queue=services.queue,
        )  # fmt: skip

    inbox = Inbox(
        services.sessions,
        services.clock,
        process,
        replica=settings.replica.id or None,
        give_up_after=settings.delivery.give_up_after,
        claim_seconds=settings.replica.claim_seconds,
        express=outbox.express,
        idle=settings.delivery.idle_seconds,
        hand_over=hand_over,
    )
    return TelegramChannel(services, bot, dp, inbox, outbox, deliverer, reader)


TELEGRAM = web.AppKey("telegram", TelegramChannel)


def setup_telegram(app: web.Application, services: Services) -> Callable[[], str | None] | None:
    """Mount the channel on ``app`` (life cycle, webhook route) and return its readiness check;
    None (nothing mounted) when it is not configured."""
    if not whole(services.settings).telegram.enabled:
        return None
    channel = create_telegram_channel(services)
    app[TELEGRAM] = channel
    settings = whole(services.settings).telegram
    if settings.mode == "webhook" and settings.webhook_secret is not None:
        path = urlsplit(settings.webhook_url).path or "/"
        secret = settings.webhook_secret.get_secret_value()
        handler = create_webhook_handler(channel.inbox, channel.reader, secret)
        app.router.add_post(path, handler)
    app.cleanup_ctx.append(_life(channel))
    return channel.problem


def _life(channel: TelegramChannel) -> Callable[[web.Application], AsyncIterator[None]]:
    async def life(_app: web.Application) -> AsyncIterator[None]:
        settings = channel.settings.telegram
        secrets = [s.get_secret_value() for s in (settings.bot_token, settings.webhook_secret) if s]
        secrets += [s.partition(":")[2] for s in secrets[:1]]  # the token's secret half alone
        redact = logs.install(secrets)
        try:
            await channel.start()
            channel.start_workers()
            try:
                yield
            finally:
                await channel.stop()
        finally:
            await channel.aclose()
            logs.uninstall(redact)

    return life


async def _flood_controlled(call: Callable[[], Awaitable[object]], tries: int = 5) -> None:
    """Make a start-up call, waiting out Telegram's 429s.

    Replicas starting together all set the same webhook, and Telegram answers a repeat within a
    second with ``retry_after``.
    """
    for attempt in range(1, tries + 1):
        try:
            await call()
            return
        except TelegramRetryAfter as exc:
            if attempt == tries:
                raise
            log.info("telegram asks to wait retry_after=%s attempt=%d", exc.retry_after, attempt)
            await asyncio.sleep(exc.retry_after)
