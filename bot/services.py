"""What the composition root (:mod:`bot.app`) makes for the channels and commands: the
database's sessions, the knowledge base in use, the engine, the operator queue, metrics,
the app's workers and Redis. A value handed on, closed by the :class:`~bot.app.App` that made it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.engine import ConversationEngine
from bot.metrics import Metrics
from bot.queue import OperatorQueue
from bot.settings import CoreSettings
from bot.supervise import Workers
from knowledge.base import KnowledgeBase
from knowledge.holder import KnowledgeHolder


@dataclass(frozen=True, slots=True)
class Services:
    """Everything an adapter needs (made by :meth:`bot.app.App.services`)."""

    # The whole configuration (handlers.settings.Settings): each channel reads its own section.
    settings: CoreSettings
    knowledge: KnowledgeHolder  # the base in use: take ``.current`` once per question
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    engine: ConversationEngine
    queue: OperatorQueue
    metrics: Metrics
    workers: Workers  # every long-running worker of the app, by name (read by /readyz)
    redis: Any = None  # redis.asyncio.Redis when REDIS_URL is set: readiness, shared send limits

    @property
    def kb(self) -> KnowledgeBase:
        """The knowledge base in use now (a reload may replace it: do not keep it)."""
        return self.knowledge.current
