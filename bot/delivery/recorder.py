"""What the outbox worker stores around its sends, in the commits of its waves: the "being
sent" marks before them, and after them each outcome as the policy settled it, with the
hand-over to the operators of an answer given up or of a person found unreachable; then the
readiness, metrics and log line of each outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Table, Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.delivery.outcome import ANSWER, Call, Channel, Done, NotReady, Outcome, Retry, Unreachable
from bot.delivery.policy import Settlement
from bot.metrics import Metrics
from bot.storage import delivery
from bot.storage.models import DeliveryStatus, OutboxMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sent:
    """One row of a wave and its outcome, once the policy settled it its ``result``."""

    row: OutboxMessage
    outcome: Outcome | None  # None: a reserved row not sent, handed back to the claims
    result: Settlement | None = None


class Recorder:
    """One channel's outbox rows marked and their outcomes stored, in the caller's transaction;
    :attr:`problem` says why the channel is not ready (its token refused)."""

    def __init__(self, channel: Channel, clock: Clock, metrics: Metrics) -> None:
        self.channel = channel
        self._name = channel.name
        self._clock = clock
        self._metrics = metrics
        self.problem: str | None = None

    async def mark_sending(
        self, session: AsyncSession, heads: list[OutboxMessage], now: datetime
    ) -> None:
        """Note the calls about to be made; a mark left from before means a fate unknown."""
        for row in heads:
            if row.sending_since is not None:
                self._metrics.unknown_outcomes.inc(channel=self._name)
                log.warning(
                    "outbox row sent again after an unknown outcome channel=%s outbox=%s "
                    "chat=%s since=%s",
                    self._name, row.id, row.chat_id, row.sending_since.isoformat(),
                )  # fmt: skip
        await session.execute(_marking(), {"o_ids": [row.id for row in heads], "o_now": now})

    async def record(self, session: AsyncSession, settled: list[Sent], now: datetime) -> None:
        """Store the outcomes; a person just found unreachable is marked on their ticket and
        the operators' notice stored with the mark."""
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for item in settled:
            if _answer_given_up(item):
                await self._undelivered(session, item, now)
            elif item.result is not None:
                values = _values(item.result, now, item.row)
                bound = {f"v_{name}": value for name, value in values.items()}
                shapes.setdefault(tuple(values), []).append({"o_id": item.row.id, **bound})
        for columns, rows in shapes.items():  # by primary key: one executemany per shape
            await session.execute(_recording(columns), rows)
        for item in settled:
            if isinstance(item.outcome, Unreachable):
                ticket = await self._unreachable(session, item.row, item.outcome)
                if ticket is not None:
                    await self.channel.unreachable(session, ticket)

    async def _undelivered(self, session: AsyncSession, item: Sent, now: datetime) -> None:
        """Give up a person's answer on the condition that its row is still pending (a second
        replica's or a restarted process's give-up of it changes nothing), and only then hand
        it to the operators, in this transaction: one hand-off per row."""
        assert item.result is not None
        values = _values(item.result, now, item.row)
        statement = _recording(tuple(values)).where(_table().c.status == DeliveryStatus.PENDING)
        bound = {f"v_{name}": value for name, value in values.items()}
        done = await session.execute(statement, {"o_id": item.row.id, **bound})
        if getattr(done, "rowcount", 0) != 1:
            log.warning("outbox row given up elsewhere meanwhile outbox=%s", item.row.id)
            return
        reason = item.result.error or ""
        await self.channel.undelivered(session, call_of(item.row), reason)
        log.warning(
            "answer given up, handed to operators outbox=%s chat=%s ticket=%s: %s",
            item.row.id, item.row.chat_id, item.row.ticket_id, reason,
        )  # fmt: skip

    async def _unreachable(
        self, session: AsyncSession, row: OutboxMessage, outcome: Unreachable
    ) -> int | None:
        error = f"unreachable: {outcome.reason}"[:1000]
        given_up = await delivery.fail_pending_for_chat(session, self._name, row.chat_id, error)
        ticket = await delivery.set_person_blocked(
            session, self._name, outcome.person, self._clock.now()
        )
        log.warning(
            "person unreachable chat=%s rows_given_up=%d: %s",
            row.chat_id, given_up + 1, outcome.reason,
        )  # fmt: skip
        return None if ticket is None else ticket.id

    def observe(self, item: Sent) -> None:
        """Readiness, metrics and the log line of one outcome (after it is stored)."""
        row, outcome, result = item.row, item.outcome, item.result
        assert result is not None
        if outcome is None:
            return
        if isinstance(outcome, Done):
            self.problem = None
            self._metrics.messages_out.inc(channel=self._name)
            return
        if isinstance(outcome, NotReady):
            if self.problem is None:
                log.critical("channel not ready channel=%s: %s", self._name, outcome.reason)
            self.problem = outcome.reason
        elif isinstance(outcome, Retry) and result.status == DeliveryStatus.PENDING:
            self._metrics.send_retries.inc(channel=self._name)
            log.warning(
                "outbox retry outbox=%s chat=%s attempt=%d scope=%s: %s",
                row.id, row.chat_id, result.attempts, outcome.scope.name, outcome.reason,
            )  # fmt: skip
        elif result.status == DeliveryStatus.FAILED and not isinstance(outcome, Unreachable):
            log.error("outbox row given up outbox=%s method=%s: %s", row.id, row.method,
                      result.error)  # fmt: skip


@cache  # one per shape of outcome (sent, retried, given up ...), built once
def _recording(columns: tuple[str, ...]) -> Update:
    """The UPDATE of one row's outcome: ``columns`` (bound as ``v_<name>``) where ``o_id``."""
    table = _table()
    values = {name: bindparam(f"v_{name}", type_=table.c[name].type) for name in columns}
    return update(table).where(table.c.id == bindparam("o_id")).values(values)


@cache
def _marking() -> Update:
    """Rows ``o_ids`` marked as being sent since ``o_now``."""
    table = _table()
    since = bindparam("o_now", type_=table.c.sending_since.type)
    ids: BindParameter[int] = bindparam("o_ids", expanding=True)
    return update(table).where(table.c.id.in_(ids)).values(sending_since=since)


def _table() -> Table:
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    return table


def _values(result: Settlement, now: datetime, row: OutboxMessage) -> dict[str, Any]:
    values: dict[str, Any] = {"status": result.status, "attempts": result.attempts}
    if not result.keep_sending_mark:
        values["sending_since"] = None
    if result.not_before is not None:
        values["not_before"] = result.not_before
    if result.error is not None:
        values["error"] = result.error[:1000]
    if result.status == DeliveryStatus.DONE:
        values["sent_at"] = now
        values["sent_id"] = None if result.sent_id is None else result.sent_id[:64]
    return values


def _answer_given_up(item: Sent) -> bool:
    """A row that answers a person, given up for good by a failure of ours or the platform's
    refusal (``Unreachable`` has its own hand-off: the person blocked the bot)."""
    result = item.result
    return (
        result is not None
        and result.status == DeliveryStatus.FAILED
        and item.row.kind == ANSWER
        and not isinstance(item.outcome, Unreachable)
    )


def call_of(row: OutboxMessage) -> Call:
    """The call a stored row makes, as :meth:`Channel.send` takes it."""
    return Call(
        id=row.id, chat_id=row.chat_id, method=row.method, params=dict(row.params),
        ticket_id=row.ticket_id, to_topic=row.to_topic, kind=row.kind, attempts=row.attempts,
        created_at=row.created_at,
    )  # fmt: skip
