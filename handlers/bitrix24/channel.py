"""The Bitrix24 channel at run time: its supervised workers (poller, processor, sender).

Each worker is a loop owned by :class:`BitrixChannel` (no fire-and-forget tasks): a crash is
logged and the loop restarts after a growing pause; :meth:`BitrixChannel.stop` lets each loop
finish the item in hand, then cancels whatever is still running after ``grace`` seconds.
Exactly one channel runs per process; with several replicas, rows are claimed (see
``bot.storage.delivery``) and only the holder of a lease polls in fetch mode.
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
from bot.delivery.worker import OutboxWorker
from bot.engine import ConversationEngine
from bot.metrics import Metrics
from bot.queue import OperatorQueue
from bot.settings import ReplicaSettings
from bot.settings_bitrix import BitrixSettings
from bot.storage import bitrix as repo
from bot.storage.delivery import default_replica
from bot.storage.leases import LeaseKeeper
from handlers.bitrix24.events import ChatEvent
from handlers.bitrix24.ownership import bot_holds
from handlers.bitrix24.poller import LEASE, EventPoller, poll_while_leased, report_revision
from handlers.bitrix24.processor import EventProcessor
from handlers.bitrix24.registration import find_bot_id
from handlers.bitrix24.rest.api import Bitrix24Api
from handlers.bitrix24.rest.errors import Bitrix24Error
from handlers.bitrix24.sender import BitrixSender

log = logging.getLogger(__name__)

IDLE_WAKE = 1.0  # seconds between looks at the inbox/outbox when nobody rang
MAX_PAUSE = 60.0


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
    ) -> None:
        self.client = client
        self._replica = replica or ReplicaSettings()
        name = self._replica.id or default_replica()
        claim = self._replica.claim_seconds
        self._sessions = sessions
        self._clock = clock
        self._settings = settings
        self._stopping = asyncio.Event()
        self._inbox = asyncio.Event()
        self._outbox = asyncio.Event()
        self._poll = asyncio.Event()
        self._kick = asyncio.Event()  # ends a crashed worker's pause early (tokens installed)
        self._tasks: list[asyncio.Task[None]] = []
        self._revision_logged = False
        self.processor = EventProcessor(
            sessions=sessions,
            engine=engine,
            queue=queue,
            clock=clock,
            settings=settings,
            language=language,
            on_queued=self._outbox.set,
            replica=name,
            claim_seconds=claim,
            holds=partial(bot_holds, client),
        )
        self.outbox = OutboxWorker(
            BitrixSender(client, clock),
            sessions,
            clock,
            policy=policy,
            ready=self._outbox,
            in_flight=in_flight,
            metrics=metrics,
            replica=name,
            claim_seconds=claim,
        )
        self._lease = LeaseKeeper(sessions, clock, LEASE, name, self._replica.lease_seconds)

    def start(self) -> None:
        """Start the workers: the poller only in fetch mode."""
        if self._tasks:
            raise RuntimeError("the Bitrix24 channel is already running")
        self._stopping.clear()
        loops: dict[str, Callable[[], Awaitable[None]]] = {
            "processor": self._process_loop,
            "sender": self._send_loop,
        }
        if self._settings.event_mode == "fetch":
            loops["poller"] = self._poll_loop
        self._tasks = [
            asyncio.create_task(self._supervise(name, loop), name=f"bitrix24-{name}")
            for name, loop in loops.items()
        ]
        log.info(
            "bitrix channel started mode=%s workers=%s",
            self._settings.event_mode,
            ",".join(loops),
        )

    async def stop(self, grace: float = 10.0) -> None:
        """Ask the workers to stop after their current item; cancel them after ``grace``."""
        self._stopping.set()
        for wake in (self._inbox, self._outbox, self._poll, self._kick):
            wake.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        log.info("bitrix channel stopped cancelled=%d", len(late))

    @property
    def running(self) -> bool:
        """Started, and no worker has ended (a failing worker restarts: it stays running)."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    def problem(self) -> str | None:
        """Why the channel is not ready (for /readyz), or None."""
        if not self._tasks:
            return "not running"
        ended = [task.get_name() for task in self._tasks if task.done()]
        if ended:
            return f"worker stopped: {', '.join(ended)}"
        return self.outbox.problem

    def kick(self) -> None:
        """Restart paused workers now: something they lacked (OAuth tokens) has arrived."""
        self._kick.set()

    async def accept(self, event: ChatEvent) -> bool:
        """Store a pushed event for the processor; ``False`` for a repeat delivery."""
        async with self._sessions.begin() as session:
            fresh = await repo.add_inbound(session, event.key, event.to_json(), self._clock.now())
        if fresh:
            self._inbox.set()
        return fresh

    async def _process_loop(self) -> None:
        while not self._stopping.is_set():
            if await self.processor.run_once(self._stopping):
                continue
            await self.processor.finish_helped()
            await self._nap(self._inbox, IDLE_WAKE)

    async def _send_loop(self) -> None:
        if not self._revision_logged:  # once per start; a failure only leaves it unknown
            self._revision_logged = True
            await report_revision(self.client)
        while not self._stopping.is_set():
            self._outbox.clear()
            if (delay := await self.outbox.drain()) > 0:
                await self._nap(self._outbox, min(delay, IDLE_WAKE))

    async def _poll_loop(self) -> None:
        bot_id = await self._bot_id()
        poller = EventPoller(
            sessions=self._sessions,
            client=self.client,
            clock=self._clock,
            bot_id=bot_id,
            on_stored=self._inbox.set,
        )
        await poll_while_leased(
            poller,
            self._lease,
            self._stopping,
            interval=self._settings.fetch_interval,
            busy_interval=self._settings.fetch_busy_interval,
        )

    async def _bot_id(self) -> int:
        # Asked each start, not cached: a bot registered again gets a new id.
        bot_id = await find_bot_id(self.client, self._settings.bot_code)
        if bot_id is None:
            raise BotNotRegisteredError(
                "BOT_NOT_FOUND",
                f"no bot {self._settings.bot_code!r}: run `helpbot bitrix register`",
            )
        return bot_id

    async def _nap(self, wake: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)
        if not self._stopping.is_set():
            wake.clear()

    async def _supervise(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        pause = 1.0
        while not self._stopping.is_set():
            try:
                await loop()
                return
            except Bitrix24Error as exc:
                log.warning("bitrix %s stopped: %s; restarting in %.0fs", name, exc, pause)
            except Exception:
                log.exception("bitrix %s crashed; restarting in %.0fs", name, pause)
            await self._nap(self._kick, pause)
            pause = min(pause * 2, MAX_PAUSE)
