"""The Bitrix24 channel at run time: its supervised workers (poller, processor, sender, finisher).

Each worker is a loop run under the app's restart policy (:class:`bot.supervise.Workers`, no
fire-and-forget tasks): a crash is logged and the loop restarts after a growing pause;
:meth:`BitrixChannel.stop` lets the events and sends in hand finish (up to ``grace``
seconds), the poller release its lease, and cancels what is still running.
Exactly one channel runs per process; with several replicas, rows are claimed (see
``bot.storage.claims``) and only the holder of a lease polls in fetch mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.delivery import Policy
from bot.delivery.inbox import InboxWorker
from bot.delivery.worker import IDLE, OutboxWorker
from bot.engine import ConversationEngine
from bot.metrics import Metrics
from bot.queue import OperatorQueue
from bot.settings import ReplicaSettings
from bot.storage.claims import default_replica
from bot.storage.leases import LeaseKeeper
from bot.supervise import Workers
from handlers.bitrix24 import storage as repo
from handlers.bitrix24.events import ChatEvent, arrival
from handlers.bitrix24.ownership import bot_holds
from handlers.bitrix24.poller import LEASE, EventPoller, poll_while_leased, report_revision
from handlers.bitrix24.processor import EventProcessor
from handlers.bitrix24.replies import BitrixCalls
from handlers.bitrix24.rest.api import Bitrix24Api
from handlers.bitrix24.rest.errors import Bitrix24Error
from handlers.bitrix24.sender import BitrixSender
from handlers.bitrix24.settings import BitrixSettings

log = logging.getLogger(__name__)

MAX_PAUSE = 60.0
FINISH_EVERY = 2.0  # seconds between looks for sessions to finish after «Помогло»
WORKERS = "bitrix24 "  # the prefix of its workers' names (``bitrix24 sender``)


class BotNotRegisteredError(Bitrix24Error):
    """The portal has no bot with our code: run ``helpbot bitrix register``."""


class BitrixChannel:
    """Owns the channel's workers; ``accept`` stores a webhook-mode event for them."""

    def __init__(
        self,
        *,
        client: Bitrix24Api,
        sessions: async_sessionmaker[AsyncSession],
        engine: ConversationEngine,
        queue: OperatorQueue,
        clock: Clock,
        settings: BitrixSettings,
        language: str,
        metrics: Metrics | None = None,
        replica: ReplicaSettings | None = None,
        policy: Policy | None = None,
        in_flight: int = 16,
        workers: Workers | None = None,
        idle: float = IDLE,
    ) -> None:
        self.client = client
        self.workers = workers or Workers()
        self._replica = replica or ReplicaSettings()
        name = self._replica.id or default_replica()
        claim = self._replica.claim_seconds
        self._sessions = sessions
        self._clock = clock
        self._settings = settings
        self._stopping = asyncio.Event()
        self._inbox = asyncio.Event()
        self._outbox = asyncio.Event()
        self._started = False
        self._revision_logged = False
        calls = BitrixCalls(language)
        self.sender = sender = BitrixSender(
            client, clock, bot_code=settings.bot_code, calls=calls, engine=engine
        )
        self.processor = EventProcessor(
            sessions=sessions,
            engine=engine,
            queue=queue,
            clock=clock,
            settings=settings,
            language=language,
            on_queued=self._outbox.set,
            holds=partial(bot_holds, client),
            calls=calls,
        )
        self.outbox = OutboxWorker(
            sender,
            sessions,
            clock,
            policy=policy,
            ready=self._outbox,
            in_flight=in_flight,
            idle=idle,
            metrics=metrics,
            replica=name,
            claim_seconds=claim,
        )
        self.inbox = InboxWorker(
            repo.CHANNEL,
            sessions,
            clock,
            self.processor.handle,
            replica=name,
            give_up_after=(policy or Policy()).give_up_after,
            claim_seconds=claim,
            ready=self._inbox,
            express=self.outbox.express,
            idle=idle,
            hand_over=self.processor.hand_over,
        )
        self._lease = LeaseKeeper(sessions, clock, LEASE, name, self._replica.lease_seconds)

    def start(self) -> None:
        """Start the workers: the poller only in fetch mode."""
        if self._started:
            raise RuntimeError("the Bitrix24 channel is already running")
        self._started = True
        self._stopping.clear()
        loops: dict[str, Callable[[], Awaitable[None]]] = {
            "processor": self.inbox.run,
            "sender": self._send_loop,
        }
        if self._settings.finish_after_helped > 0:
            loops["finisher"] = self._finish_loop
        if self._settings.event_mode == "fetch":
            loops["poller"] = self._poll_loop
        for name, loop in loops.items():
            self.workers.start(
                f"{WORKERS}{name}", loop, max_pause=MAX_PAUSE, quiet=(Bitrix24Error,)
            )
        log.info(
            "bitrix channel started mode=%s workers=%s",
            self._settings.event_mode,
            ",".join(loops),
        )

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the events in hand and the sends under way (up to ``grace``), let the poller
        release its lease, then cancel what is still running. The sender is not cut short
        mid-call: a call the portal took but did not finish holds its ``templateId`` (up to an
        hour), and the repeat after a restart would wait for it."""
        self._stopping.set()
        self._outbox.set()
        if self._started:
            self._started = False
            await self.inbox.stop(grace)
            await self.outbox.stop(grace)
            await self.workers.stop(WORKERS, grace)
            log.info("bitrix channel stopped")

    def problem(self) -> str | None:
        """Why the channel is not ready (for /readyz; its workers are watched by
        ``workers``), or None."""
        if not self._started:
            return "not running"
        return self.outbox.problem

    def kick(self) -> None:
        """Restart paused workers now: something they lacked (OAuth tokens) has arrived."""
        self.workers.kick(WORKERS)

    async def accept(self, event: ChatEvent) -> bool:
        """Store a pushed event through the one inbox's intake (POSTs arriving together share a
        commit, as Telegram's webhook calls do); ``False`` for a repeat delivery."""
        return await self.inbox.keep([arrival(event)]) > 0

    async def _send_loop(self) -> None:
        if not self._revision_logged:  # once per start; a failure only leaves it unknown
            self._revision_logged = True
            await self._unless_stopped(report_revision(self.client))
        if self._stopping.is_set():  # stop() came during that call, while the outbox was idle:
            return  # it had nothing to stop, and a run begun now would wait out stop()'s grace
        await self.outbox.run()  # until stop() stops it (OutboxWorker.stop)

    async def _finish_loop(self) -> None:
        """Finish the sessions silent since «Помогло» (see ``EventProcessor.finish_helped``)."""
        while not self._stopping.is_set():
            await self.processor.finish_helped()
            await self._nap(self._stopping, FINISH_EVERY)

    async def _unless_stopped(self, call: Awaitable[object]) -> None:
        """Await ``call``, or cancel it when stop() comes first: for a call that only informs a
        log line (the portal's revision), whose retries against a portal that does not answer
        (up to ~6 s of backoff, or its time-outs) must not hold a stop."""
        work = asyncio.ensure_future(call)
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((work, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, stop):
                task.cancel()
            await asyncio.gather(stop, return_exceptions=True)
            with contextlib.suppress(asyncio.CancelledError):
                await work  # a failure of its own still ends the worker (and is logged)

    @staticmethod
    async def _nap(wake: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)

    async def _poll_loop(self) -> None:
        bot_id = await self._bot_id()
        poller = EventPoller(
            sessions=self._sessions,
            client=self.client,
            clock=self._clock,
            bot_id=bot_id,
            inbox=self.inbox,
        )
        await poll_while_leased(
            poller,
            self._lease,
            self._stopping,
            interval=self._settings.fetch_interval,
            busy_interval=self._settings.fetch_busy_interval,
        )

    async def _bot_id(self) -> int:
        # Asked each start, not cached: a bot registered again gets a new id. The sender keeps
        # the answer (one imbot.v2.Bot.get a start, not one here and one at the first send).
        bot_id = await self.sender.bot_id(fresh=True)
        if bot_id is None:
            raise BotNotRegisteredError(
                "BOT_NOT_FOUND",
                f"no bot {self._settings.bot_code!r}: run `helpbot bitrix register`",
            )
        return bot_id
