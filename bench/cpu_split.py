"""Where a bench/load.py run's CPU goes, process by process, and what that leaves two replicas.

bench/load.py runs everything on one machine: the bots, PostgreSQL, the fake Bot API and the load
generator (both in bench/load.py's own process), and for two replicas perhaps bench/balancer.py.
:class:`Ledger` reads each one's CPU time from /proc over a load's window: the bot processes and
the balancer by pid, bench/load.py's own process, and PostgreSQL's: the backends serving the run's
database (found by their process title, `postgres: … USER DATABASE HOST(PORT) STATE`) plus the
server's own processes (the WAL writer, checkpointer, background writer, autovacuum: they work for
every database on the server, other engineers' test databases too), and the machine's whole busy
time from /proc/stat, whose rest is everything else running there. :func:`ceiling` turns the
figures per message into the most msg/s the cores allow one and two replicas, and their ratio.

:func:`pg_waits` samples `pg_stat_activity` and `pg_locks` for the run's database (what its
backends do and wait for) while two replicas work: the coordination that could serialise them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
AUXILIARY = (  # PostgreSQL's own processes (their titles), shared by every database on the server
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum",
    "logical replication launcher",
    "stats collector",
    "archiver",
    "io worker",
)
POLL = 0.25  # seconds between looks for PostgreSQL backends that come and go within a window


def cpu_ticks(pid: int) -> int | None:
    """User + system CPU ticks of ``pid`` so far (/proc/PID/stat fields 14 and 15), None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])


def _busy_ticks() -> int:
    """All cores' busy ticks so far (/proc/stat's cpu line less idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4]


def _postgres(database: str, among: list[int] | None = None) -> dict[int, str]:
    """The PostgreSQL processes working for ``database``: its backends and the server's own
    (pid -> "backend" or "server"), among ``among`` (else every process)."""
    found: dict[int, str] = {}
    pids = (
        among
        if among is not None
        else [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]
    )
    for pid in pids:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if not title.startswith("postgres:"):
            continue
        words = title.split()
        if database in words:
            found[pid] = "backend"
        elif any(name in title for name in AUXILIARY):
            found[pid] = "server"
    return found


def _children(parents: set[int]) -> list[int] | None:
    """The children of ``parents`` (PostgreSQL's postmaster: every backend is its child), or
    None when a parent cannot be read (then every process is looked at)."""
    pids: list[int] = []
    for parent in parents:
        try:
            pids += [
                int(p) for p in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
            ]
        except OSError:
            return None
    return pids


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Ledger:
    """CPU seconds of each group of processes between :meth:`start` and :meth:`stop`."""

    groups: dict[str, list[int]]  # "helpbot", "balancer", "bench" … -> pids
    database: str | None = None  # PostgreSQL's processes for it, found as they come and go
    waits_server: str | None = None  # a server URL: sample the database's waits (pg_waits)
    _first: dict[int, int] = field(default_factory=dict)
    _last: dict[int, int] = field(default_factory=dict)
    _pg: dict[int, str] = field(default_factory=dict)
    _busy: int = 0
    _began: float = 0.0
    _poller: asyncio.Task[None] | None = None
    _started: bool = False
    _postmasters: set[int] = field(default_factory=set)
    _waits: asyncio.Task[Counter[str]] | None = None
    _stop_waits: asyncio.Event = field(default_factory=asyncio.Event)

    def _look(self) -> None:
        if self.database is not None:
            among = _children(self._postmasters) if self._postmasters else None
            for pid, kind in _postgres(self.database, among).items():
                self._pg.setdefault(pid, kind)
                if among is None and (parent := _parent(pid)) is not None:
                    self._postmasters.add(parent)  # the next looks read only its children
        pids = [pid for pids in self.groups.values() for pid in pids] + list(self._pg)
        for pid in pids:
            ticks = cpu_ticks(pid)
            if ticks is None:
                continue  # gone: its last look stands
            # a backend first seen mid-window started in it (a new pooled connection): from 0
            self._first.setdefault(pid, 0 if self._started else ticks)
            self._last[pid] = ticks

    def start(self) -> None:
        self._began, self._busy = time.monotonic(), _busy_ticks()
        self._look()
        self._started = True
        self._poller = asyncio.create_task(self._poll())
        if self.waits_server and self.database:
            self._waits = asyncio.create_task(
                pg_waits(self.waits_server, self.database, self._stop_waits)
            )

    def measured(self, load: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """``load`` with the window starting right before it."""

        async def started() -> None:
            self.start()
            await load()

        return started

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL)
            self._look()

    async def stop(self) -> dict[str, float]:
        """CPU seconds per group over the window: the groups given, "postgres" (its backends
        for the database), "postgres server" (its own processes), "machine" (every core's busy
        time) and "window" (seconds)."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        self._look()

        def spent(pids: list[int]) -> float:
            return sum(self._last.get(p, 0) - self._first.get(p, 0) for p in pids) / TICK

        out = {name: spent(pids) for name, pids in self.groups.items()}
        for name, pids in self.groups.items():
            for n, pid in enumerate(pids):
                out[f"{name}#{n + 1}"] = spent([pid])  # each replica's own
        out["postgres"] = spent([p for p, kind in self._pg.items() if kind == "backend"])
        out["postgres server"] = spent([p for p, kind in self._pg.items() if kind == "server"])
        out["machine"] = (_busy_ticks() - self._busy) / TICK
        out["window"] = time.monotonic() - self._began
        if self._waits is not None:
            self._stop_waits.set()
            seen = await self._waits
            samples = max(seen.pop("samples", 0), 1)
            out |= {f"waits {k}": v / samples for k, v in seen.items()}
            out["waits samples"] = samples
        return out

    def figures(self, cpu: dict[str, float], messages: int) -> dict[str, float]:
        """bench/load.py's row keys: "ms GROUP" (CPU ms per message, :func:`per_message`) and
        "waits …" (backends per sample in each state)."""
        waits = {k: v for k, v in cpu.items() if k.startswith("waits ")}
        spent = {k: v for k, v in cpu.items() if not k.startswith("waits ")}
        return {f"ms {k}": v for k, v in per_message(spent, messages).items()} | waits


OURS = ("helpbot", "postgres", "postgres server", "bench", "balancer")  # a helpbot run's groups


def per_message(cpu: dict[str, float], messages: int) -> dict[str, float]:
    """Milliseconds of CPU per message for each group, "others" being the machine's busy time
    that none of the run's processes spent (other engineers' work)."""
    per = max(messages, 1)
    out = {k: v * 1000 / per for k, v in cpu.items() if k not in ("window", "machine")}
    ours = sum(v for k, v in cpu.items() if k not in ("window", "machine") and "#" not in k)
    out["others"] = max(cpu.get("machine", 0.0) - ours, 0.0) * 1000 / per
    out["window s"] = cpu.get("window", 0.0)
    return out


@dataclass(frozen=True)
class Ceiling:
    """What ``cores`` allow two replicas over one, from the two-replica run's CPU per message:
    ``bot_ms`` of the replicas (both together), ``rest_ms`` of the run's other processes
    (PostgreSQL, bench/load.py's fake and load generator, the balancer)."""

    bot_ms: float
    rest_ms: float
    cores: float

    @property
    def ratio(self) -> float:
        """One replica is one Python thread: at most 1000 / h msg/s, a core full. Two at most
        twice that, and all the run's processes together at most cores × 1000 / (h + r) msg/s.
        So 2 / 1 ≤ min(2, cores × h / (h + r)) if a replica's CPU per message (h) is the same
        alone and beside another: the most this machine allows; ratios of one run's figures,
        so a busy machine, which slows every process alike, moves it little."""
        if self.bot_ms <= 0:
            return float("nan")
        return min(2.0, self.cores * self.bot_ms / (self.bot_ms + self.rest_ms))

    def cores_for(self, ratio: float) -> float:
        """The cores ``ratio`` would take at these costs."""
        return ratio * (self.bot_ms + self.rest_ms) / self.bot_ms


def ceiling(two: dict[str, float], cores: float) -> Ceiling:
    """:class:`Ceiling` from the two-replica run's CPU ms per message (:func:`per_message`)."""
    rest = sum(two.get(k, 0.0) for k in OURS if k != "helpbot")
    return Ceiling(two.get("helpbot", 0.0), rest, cores)


_ACTIVITY = """
SELECT a.state, a.wait_event_type, a.wait_event,
  CASE WHEN a.wait_event_type = 'Lock' THEN
    (SELECT array_agg(l.objid) FROM pg_locks l
     WHERE l.pid = a.pid AND NOT l.granted AND l.locktype = 'advisory') END AS advisory,
  CASE WHEN a.wait_event_type = 'Lock' THEN
    (SELECT array_agg(coalesce(b.state, '?')) FROM pg_stat_activity b
     WHERE b.pid = ANY (pg_blocking_pids(a.pid))) END AS blockers
FROM pg_stat_activity a WHERE a.datname = $1 AND a.pid <> pg_backend_pid()
"""


async def pg_waits(
    server: str, database: str, stop: asyncio.Event, every: float = 0.02
) -> Counter[str]:
    """Sample what the backends of ``database`` do every ``every`` s until ``stop``, connected
    to ``server``'s own database (not counted among ``database``'s backends): per sample,
    one count per backend under its state and wait (``active``, ``idle in transaction``,
    ``waiting Lock:advisory`` …), per advisory lock waited for (named as
    :func:`bot.storage.dialect.serialise` names it), and per state of the backends a waiting
    one waits for (``idle in transaction``: its holder's process is busy elsewhere); "samples"
    counts the samples."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from bot.storage.dialect import lock_key

    where = make_url(server)
    conn = await asyncpg.connect(
        host=where.host, port=where.port, user=where.username, password=where.password,
        database=where.database,
    )  # fmt: skip
    names = {lock_key(n): n for n in ("inbox:telegram", "outbox:telegram")}
    seen: Counter[str] = Counter()
    try:
        while not stop.is_set():
            rows = await conn.fetch(_ACTIVITY, database)
            seen["samples"] += 1
            for row in rows:
                state = row["state"] or "?"
                if row["wait_event_type"] and state == "active":
                    seen[f"waiting {row['wait_event_type']}:{row['wait_event']}"] += 1
                else:
                    seen[state] += 1
                for key in row["advisory"] or ():  # bot.storage.dialect.serialise's keys
                    seen[f"advisory lock {names.get(key, 'outbox:telegram:<chat>')} waited"] += 1
                for holder in row["blockers"] or ():
                    seen[f"a waiting one's blocker {holder}"] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    finally:
        await conn.close()
    return seen
