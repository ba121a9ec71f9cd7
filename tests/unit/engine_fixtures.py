"""Helpers for the engine and queue tests: a small knowledge base and a wired engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from queueing import Queue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import CaseCard, CaseLine
from bot.clock import Clock
from bot.engine import ConversationEngine, EngineSettings, Event, Incoming, Say
from handlers.settings import Settings
from knowledge.base import KnowledgeBase
from knowledge.model import Entry

LONG = "x" * 70  # entry ids may be longer than a Telegram callback can carry

ENTRIES = (
    Entry(
        id=f"crm--kak-dobavit-sdelku-{LONG}",
        title="Как добавить сделку в CRM",
        source="crm.md",
        summary="Откройте CRM, раздел Сделки, и нажмите «Добавить».",
        path="CRM > Сделки",
        url="https://helpdesk.example/deal",
    ),
    Entry(
        id="crm--kak-udalit-sdelku",
        title="Как удалить сделку в CRM",
        source="crm.md",
        summary="Откройте сделку и нажмите «Удалить».",
    ),
    Entry(
        id="crm--import",
        title="Импорт сделок в CRM из файла",
        source="crm.md",
        summary="CRM > Сделки > Импорт.",
    ),
    Entry(
        id="tasks--kak-postavit-zadachu",
        title="Как поставить задачу сотруднику",
        source="tasks.md",
        summary="Откройте Задачи и нажмите «Создать».",
    ),
)

DEAL = ENTRIES[0].title
TASK = ENTRIES[3].title
NONSENSE = "квантовая хромодинамика глюоны"


@cache  # read-only after construction; building the index is the slow part
def knowledge() -> KnowledgeBase:
    return KnowledgeBase(ENTRIES)


def settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg, arg-type]


@dataclass
class Rig:
    engine: ConversationEngine
    queue: Queue
    sessions: async_sessionmaker[AsyncSession]

    async def say(
        self, text: str = "", *, payload: str = "", person: str = "42", **fields: str
    ) -> list[Event]:
        return await self.engine.handle(
            Incoming("test", f"chat-{person}", person, text, payload, **fields)
        )


def rig(sessions: async_sessionmaker[AsyncSession], clock: Clock, **overrides: object) -> Rig:
    config = settings(**overrides)
    engine = ConversationEngine(
        knowledge(),
        sessions,
        clock,
        EngineSettings(config.conversation, config.hours, config.kb.public_url),
    )
    queue = Queue(
        sessions,
        clock,
        reflag_after=timedelta(minutes=config.queue.reflag_minutes),
        kb=knowledge(),
    )
    return Rig(engine, queue, sessions)


def to_person(out: list[Event]) -> list[Say]:
    return [o for o in out if isinstance(o, Say)]


def text_of(out: list[Event]) -> str:
    return "\n".join(
        "\n".join(filter(None, (o.reply.title, *o.reply.blocks))) for o in to_person(out)
    )


def buttons(out: list[Event]) -> dict[str, str]:
    """Label → payload of the buttons sent to the person."""
    return {b.label: b.payload for o in to_person(out) for b in o.reply.buttons}


def case_card(
    ticket_id: int, channel: str, subject: str, lines: tuple[CaseLine, ...] = ()
) -> CaseCard:
    """A waiting ticket's case card, built by hand for rendering tests (no database)."""
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    return CaseCard(
        ticket_id=ticket_id,
        status="waiting",
        subject=subject,
        reason="requested",
        person="Анна",
        channel=channel,
        language="ru",
        operator=None,
        created_at=now,
        taken_at=None,
        now=now,
        zone="UTC",
        lines=lines,
        offered=(),
        earlier=(),
    )
