"""End-to-end load through the Telegram webhook path, side by side with a minimal durable bot.

    python bench/load.py [--messages 300] [--chats 30] [--time-limit 120] [--no-postgres]
                         [--postgres-only] [--latency 0.05] [--bitrix 100] [--rate 50] [--lone 30]
                         [--fronts reuseport,balancer] [--pg-waits] [--texts SET.jsonl]
                         [--calls] [--pin-bots CPU]

The fake Bot API (tests/fakes/) runs in this process on 127.0.0.1 and POSTs updates to the
webhook of real `helpbot serve` subprocesses: one replica on SQLite (a temp file), one on
PostgreSQL, then two on one PostgreSQL database (a throwaway database on TEST_DATABASE_URL's
server, dropped at the end) listening on one port with WEB_REUSE_PORT (SO_REUSEPORT: the kernel
spreads the fake's connections, one an update in flight, over them) or, with --fronts balancer,
each on its own behind a loopback round-robin balancer (bench/balancer.py, a process of its
own). For the PostgreSQL runs bench/cpu_split.py reads the CPU of every process of the run from
/proc (the bots, the database's backends, this process — the fake and the load generator —, the
balancer, and the machine's rest) and prints the 2 / 1 ratio those costs allow this machine's
cores; --pg-waits samples what the backends wait for while two replicas work. In the same run,
against a
fresh fake of the same kind, bench/minimal_bot.py (one aiogram webhook handler: the update and
its reply stored in one transaction, then sent) gives the floor of this stack, and the ratio
helpbot/minimal is printed. With --latency every Bot API call of both bots takes that much longer
(the fake's `latency` knob). Every bot process runs under bench/counted.py, which counts its
database commits and statements with a SQLAlchemy event listener (no change to the bot); its CPU
time is read from /proc. --bitrix N sends N Bitrix24 open-line messages (fake portal, fetch mode,
SQLite) and counts the commits per message. --rate R sends the texts to one SQLite replica
steadily, R a second, for the p99 reply latency under a load it keeps up with (issue 12: below
250 ms at 50 msg/s). --lone N sends N texts to one SQLite replica one at a time, each after
the reply to the one before: the commits of a message with nothing to share them with. Latency
is the time from the fake starting to deliver an update to the bot's sendMessage arriving for
it (the k-th reply of a chat answers its k-th update). Loopback only; each run stops after
--time-limit seconds. --postgres-only runs the three PostgreSQL setups alone (one helpbot, the
minimal bot, two helpbots). --calls counts, per message, each helpbot's statements by kind, its
workers' looks and claims (and the empty ones), the notifications it hears from itself and the
other replica, its write system calls and context switches (bench/counted.py; it costs CPU, so
its runs are for the counts). --pin-bots CPU keeps every helpbot process on one core. Compare
the figures with the targets of issue 12 (README «Load»; the rounds in docs/load.md).

The texts: by default the five QUESTIONS below, in turn, so a burst repeats each one and a helpbot
that remembers its decision of a text (knowledge.base.DECISIONS_KEPT) matches five times in all;
--texts takes the questions ("q") of a JSONL set instead, in file order, in turn, less its
requests for a human (bench/sets/realistic.jsonl: 213 different ones, none repeated with
--messages 213 or fewer).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakes.telegram_server import FakeTelegram, WebhookPolicy

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu_split

ROOT = Path(__file__).resolve().parents[1]
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SECRET = "bench-secret_0123456789"
QUESTIONS = (
    "Как восстановить пароль от Битрикс24",
    "Как создать и настроить открытую линию",
    "Как работать с канбаном в CRM",
    "Как заблокировать документ на диске",
    "Как создать чат о просроченной задаче",
)
FAST = "10000"
COUNTED = ROOT / "bench" / "counted.py"
MINIMAL = ROOT / "bench" / "minimal_bot.py"
BALANCER = ROOT / "bench" / "balancer.py"
IDLE_WINDOW = 3.0  # seconds of an idle bot before each load: its commits and CPU at rest


def _texts(path: Path | None) -> tuple[str, ...]:
    """The texts a load sends in turn: QUESTIONS, or the questions of a JSONL set less its
    requests for a human (a ticket opens, and the chat's next texts go to the operators
    unanswered: the load counts replies)."""
    if path is None:
        return QUESTIONS
    with path.open(encoding="utf-8") as lines:
        cases = [json.loads(line) for line in lines if line.strip()]
    return tuple(case["q"] for case in cases if not case.get("expect", {}).get("operator"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(fake: FakeTelegram, port: int, db: dict[str, str], workdir: Path) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return (
        {k: v for k, v in os.environ.items() if k in keep}
        | db
        | {
            "HELPBOT_HOME": str(workdir),
            "KNOWLEDGE_CACHE_DIR": str(ROOT / "var" / "cache"),
            "LOG_LEVEL": "WARNING",
            "REPLICA_ID": f"bench-{port}",
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(port),
            "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_API_URL": fake.url,
            "TELEGRAM_LOCAL_SERVER": "true",  # the fake, like `telegram-bot-api --local`: any URL
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_CHAT_PER_SECOND": FAST,
            "TELEGRAM_GLOBAL_PER_SECOND": FAST,
        }
    )


def _record_deliveries(
    fake: FakeTelegram, ids: dict[int, list[int]] | None = None
) -> dict[int, list[float]]:
    """Per chat, when the fake first started to POST each of its updates (in update order);
    ``ids``, when given, gets their update ids in the same order."""
    started: dict[int, list[float]] = defaultdict(list)
    seen: set[int] = set()
    delivery = fake._world.delivery  # the fake's internals: the bench measures from here
    deliver = delivery._deliver

    async def timed(config: Any, update: Any) -> None:
        if update.update_id not in seen:
            seen.add(update.update_id)
            started[update.queue_key].append(time.monotonic())
            if ids is not None:
                ids.setdefault(update.queue_key, []).append(update.update_id)
        await deliver(config, update)

    delivery._deliver = timed
    return started


def _serve(
    kind: str, env: dict[str, str], workdir: Path, port: int, name: str = ""
) -> subprocess.Popen[bytes]:
    """``kind`` (helpbot or minimal) on ``port``, under bench/counted.py (its commits counted);
    ``name`` tells its log and counts apart from another process's on the same port."""
    target = ["-m", "bot", "serve"] if kind == "helpbot" else [str(MINIMAL)]
    name = name or str(port)
    with (workdir / f"serve-{name}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, str(COUNTED), str(workdir / f"counts-{name}"), *target],
            env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _minimal_env(fake: FakeTelegram, port: int, hook: str, url: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep} | {
        "BENCH_TOKEN": fake.token,
        "BENCH_API_URL": fake.url,
        "BENCH_WEBHOOK_URL": hook,
        "BENCH_SECRET": SECRET,
        "BENCH_PORT": str(port),
        "BENCH_DATABASE_URL": url,
    }


def _counts(workdir: Path) -> tuple[int, int, int]:
    """Commits, statements and transactions begun so far, summed over the run's processes
    (bench/counted.py)."""
    total = [0, 0, 0]
    for path in workdir.glob("counts-*"):
        with contextlib.suppress(ValueError):  # a file caught mid-write: read it again later
            c, n, b = (int(x) for x in path.read_text().split())
            total = [total[0] + c, total[1] + n, total[2] + b]
    return total[0], total[1], total[2]


def _cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU time of the processes so far (:func:`cpu_split.cpu_ticks`)."""
    ticks = [cpu_split.cpu_ticks(proc.pid) for proc in procs]
    if None in ticks:
        raise ProcessLookupError(f"a process of the run is gone: {[p.pid for p in procs]}")
    return sum(t for t in ticks if t is not None) / cpu_split.TICK


def _calls(workdir: Path, procs: list[subprocess.Popen[bytes]]) -> dict[str, int]:
    """The counts by kind so far (bench/counted.py's FILE.calls, --calls), over the processes,
    and their read and write system calls (/proc/PID/io) and context switches (every thread's)."""
    total: dict[str, int] = defaultdict(int)
    for proc in procs:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{proc.pid}/io").read_text().splitlines():
                name, _, value = line.partition(": ")
                if name in ("syscr", "syscw"):
                    total[f"process {name}"] += int(value)
            for task in Path(f"/proc/{proc.pid}/task").iterdir():
                for line in (task / "status").read_text().splitlines():
                    name, _, value = line.partition(":\t")
                    if name.endswith("ctxt_switches"):
                        total[f"process {name}"] += int(value)
    for path in workdir.glob("counts-*.calls"):
        with contextlib.suppress(ValueError):  # caught mid-write: that process's left out
            for kind, n in json.loads(path.read_text()).items():
                total[kind] += n
    return dict(total)


async def _until(check: Any, deadline: float) -> bool:
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)  # a benchmark's poll of the fake's records
    return True


async def _measure(
    workdir: Path,
    procs: list[subprocess.Popen[bytes]],
    load: Any,
    done: Any,
    deadline: float,
    calls: bool = False,
) -> dict[str, float]:
    """Idle commits for a second, then ``load()`` until ``done()``: commits, statements, CPU."""
    idle0, idle_cpu0 = _counts(workdir)[0], _cpu_seconds(procs)
    await asyncio.sleep(IDLE_WINDOW)  # the bot's idle transactions (pollers, workers) and CPU
    c0, n0, b0 = _counts(workdir)
    calls0 = _calls(workdir, procs) if calls else {}
    cpu0 = _cpu_seconds(procs)
    t0 = time.monotonic()
    await load()
    finished = await _until(done, deadline)
    t_done = time.monotonic()
    await asyncio.sleep(0.5)  # the last "sent" marks and a write of the counts files
    c1, n1, b1 = _counts(workdir)
    now = _calls(workdir, procs) if calls else {}
    calls = {f"calls {k}": n - calls0.get(k, 0) for k, n in now.items()}
    window = time.monotonic() - t0
    return {
        "window": window,
        "finished": float(finished),
        "t0": t0,
        "elapsed": t_done - t0,
        "idle_commits": (c0 - idle0) / IDLE_WINDOW,
        "idle_cpu": (cpu0 - idle_cpu0) / IDLE_WINDOW / len(procs),
        "commits": c1 - c0,
        "statements": n1 - n0,
        "begins": b1 - b0,
        "cpu": _cpu_seconds(procs) - cpu0,
    } | calls


async def run_once(
    label: str,
    db: dict[str, str],
    args: argparse.Namespace,
    replicas: int = 1,
    kind: str = "helpbot",
    latency: float = 0.0,
    rate: float = 0.0,
    lone: int = 0,
    front_kind: str = "reuseport",
    trace: Path | None = None,
) -> dict[str, float]:
    """``replicas`` processes of ``kind`` against a fresh fake: the figures of one configuration.
    For the minimal bot ``db`` is {"url": ...}; empty, a SQLite file in the run's folder. With
    ``rate`` the messages come steadily, that many a second, instead of in one burst; with
    ``lone`` that many come one at a time, each after the reply to the one before (nothing to
    share a commit with). Several replicas listen on one port with SO_REUSEPORT (``front_kind``
    "reuseport", WEB_REUSE_PORT) or each on its own behind bench/balancer.py ("balancer").
    ``trace``: helpbot's per-message timestamps go to ``trace``.<n>.events.jsonl
    (bench/tail_trace.py) and the fake's to ``trace``.fake.jsonl (bench/tail.py reads both)."""
    count = lone or args.messages
    policy = WebhookPolicy(retry_base=0.05, retry_cap=0.5, max_attempts=20, timeout=30.0)
    async with (
        FakeTelegram(webhook_policy=policy, local_mode=True, latency=latency) as fake,
        aiohttp.ClientSession() as http,
    ):
        update_ids: dict[int, list[int]] = {}
        started = _record_deliveries(fake, update_ids)
        pushed: dict[int, list[float]] = defaultdict(list)  # when each was handed to the fake
        people = [fake.add_user(f"P{n}") for n in range(args.chats)]
        shared = replicas > 1 and front_kind == "reuseport"
        warm = [fake.add_user(f"Warm-up {n}") for n in range(replicas * (2 if shared else 1))]
        ports = [_free_port()] * replicas if shared else [_free_port() for _ in range(replicas)]
        front = _free_port() if replicas > 1 and not shared else ports[0]
        hook = f"http://127.0.0.1:{front}/telegram/webhook"
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            procs = []
            balancer = None
            deadline = time.monotonic() + args.time_limit
            try:
                if replicas > 1 and not shared:  # a process of its own, as a real balancer is
                    balancer = _balance(front, ports, workdir)
                    if not await _healthy(http, front, deadline, balancer):
                        raise SystemExit(f"{label}: the balancer never started")
                for n, port in enumerate(ports):  # one by one: the first migrates the database
                    if kind == "helpbot":
                        env = _env(fake, port, db, workdir) | {"TELEGRAM_WEBHOOK_URL": hook}
                        if trace is not None:  # per-message timestamps (bench/tail_trace.py)
                            env["BENCH_TRACE"] = str(trace.with_suffix(f".{n}.events.jsonl"))
                        env.setdefault("DATABASE_SQLITE_PATH", str(workdir / "helpbot.db"))
                        if args.calls:
                            env["BENCH_CALLS"] = "1"
                        if shared:  # one port, SO_REUSEPORT: the kernel spreads the connections
                            env |= {"WEB_REUSE_PORT": "true", "REPLICA_ID": f"bench-{port}-{n}"}
                    else:
                        url = db.get("url", f"sqlite+aiosqlite:///{workdir / 'minimal.db'}")
                        env = _minimal_env(fake, port, hook, url)
                    procs.append(_serve(kind, env, workdir, port, f"{port}-{n}"))
                    if args.pin_bots is not None and kind == "helpbot":  # one core for all
                        os.sched_setaffinity(procs[-1].pid, {args.pin_bots})
                    if shared:  # /healthz may be the other one's answer: wait for its own line
                        log_file = workdir / f"serve-{port}-{n}.log"
                        await _until(lambda f=log_file: _serving(f, procs[-1]), deadline)
                    if not await _healthy(http, port, deadline, procs[-1]):
                        log = _tail(workdir / f"serve-{port}-{n}.log")
                        raise SystemExit(f"{label}: the replica on {port} never started\n{log}")
                if not await _until(lambda: fake.webhook_info()["url"], deadline):
                    raise SystemExit(f"{label}: the bot never set its webhook")

                def replies() -> int:
                    return len(fake.calls("sendMessage", ok=True))

                # Lazy loads (the knowledge base) out of the count: one message for each replica
                # (the balancer takes turns), each one answered before the load; on a shared
                # port two a replica at once, on connections of their own that the kernel spreads
                # (most likely over both: nothing steers a connection to a replica).
                for person in warm if not shared else []:
                    answered = replies()
                    fake.user_sends(person, QUESTIONS[0])
                    if not await _until(lambda n=answered: replies() > n, deadline):
                        raise SystemExit(f"{label}: no reply to a warm-up message")
                if shared:
                    for person in warm:
                        fake.user_sends(person, QUESTIONS[0])
                    if not await _until(lambda: replies() >= len(warm), deadline):
                        raise SystemExit(f"{label}: no reply to a warm-up message")

                async def load() -> None:
                    start = time.monotonic()
                    for n in range(count):
                        answered = replies() if lone else 0  # a look at every call so far
                        person = people[n % len(people)]
                        pushed[person.id].append(time.monotonic())
                        fake.user_sends(person, args.texts[n % len(args.texts)])
                        if rate:  # the next one on schedule, however late this one was
                            await asyncio.sleep(max(start + (n + 1) / rate - time.monotonic(), 0))
                        elif lone:
                            await _until(lambda a=answered: replies() > a, deadline)

                ledger = _ledger(args, kind, procs, balancer, db)
                m = await _measure(
                    workdir, procs, ledger.measured(load), lambda: replies() >= count + len(warm),
                    deadline, args.calls and kind == "helpbot",
                )  # fmt: skip
                split = await ledger.stop()
                t0 = m["t0"]
                t1 = max((c.time for c in fake.calls("sendMessage", ok=True)), default=t0)
            finally:
                for proc in procs:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=10)
                if balancer is not None:
                    balancer.send_signal(signal.SIGKILL)
                    balancer.wait(timeout=10)
        latencies: list[float] = []
        for person in people:
            sent = [c.time for c in fake.calls("sendMessage", chat=person, ok=True)]
            latencies += [s - d for d, s in zip(started[person.id], sent, strict=False)]
        if trace is not None:  # each text: handed to the fake, POSTed, its reply arrived
            with trace.with_suffix(".fake.jsonl").open("w", encoding="utf-8") as out:
                for person in people:
                    sent = [c.time for c in fake.calls("sendMessage", chat=person, ok=True)]
                    ids = update_ids.get(person.id, [])
                    for k, at in enumerate(started[person.id]):
                        out.write(json.dumps({
                            "chat": person.id, "update": ids[k] if k < len(ids) else None,
                            "pushed": pushed[person.id][k] if k < len(pushed[person.id]) else None,
                            "started": at, "replied": sent[k] if k < len(sent) else None,
                        }) + "\n")  # fmt: skip
    done = replies() - len(warm)  # less the warm-ups
    if not m["finished"]:
        print(f"{label}: only {done} of {count} replies within {args.time_limit} s")
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    figures = _figures(done, t1 - t0, m) | {
        "p50_ms": cuts[49] * 1000, "p90_ms": cuts[89] * 1000, "p99_ms": cuts[98] * 1000,
        "max_ms": max(latencies, default=0.0) * 1000,
    }  # fmt: skip
    return figures | ledger.figures(split, done)


def _figures(done: int, seconds: float, m: dict[str, float]) -> dict[str, float]:
    per = max(done, 1)
    return {
        "replies": done,
        "seconds": seconds,
        "per_second": done / seconds if seconds > 0 else 0.0,
        "commits": m["commits"] / per,
        # less what the process commits idle (pollers) over the same window: the message's own
        "net_commits": max(m["commits"] - m["idle_commits"] * m["window"], 0.0) / per,
        "statements": m["statements"] / per,
        "begins": m["begins"] / per,
        "cpu_ms": m["cpu"] * 1000 / per,
        "idle_commits": m["idle_commits"],
        "idle_cpu_pct": m["idle_cpu"] * 100,
    } | {k: v for k, v in m.items() if k.startswith("calls ")}


async def run_bitrix(args: argparse.Namespace) -> dict[str, float]:
    """``--bitrix`` open-line messages through one `helpbot serve` (SQLite, Bitrix24 fetch mode,
    Telegram on a webhook no update comes to): commits, statements and CPU per Bitrix24 message."""
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from fakes.bitrix24 import FakeBitrix24
    from test_fault_kill9 import BOT_TOKEN
    from test_fault_kill9 import _env as fault_env

    from handlers.bitrix24.settings import BitrixSettings
    from handlers.cli.bitrix import register_bot
    from handlers.settings import Settings

    async with (
        FakeTelegram(local_mode=True) as tg,
        FakeBitrix24(burst=int(FAST), per_second=float(FAST)) as b24,
    ):
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            bitrix=BitrixSettings(webhook_url=b24.webhook_url, bot_token=BOT_TOKEN),
        )
        if await register_bot(settings) != 0:
            raise SystemExit("registering the bot on the fake portal failed")
        chats = [await b24.open_line_chat(customer_name=f"Guest {n}") for n in range(args.chats)]
        with tempfile.TemporaryDirectory() as tmp:
            workdir, port = Path(tmp), _free_port()
            env = fault_env(workdir, tg, b24) | {"HELPBOT_HOME": tmp, "LOG_LEVEL": "WARNING"}
            # slower idle polls than the fault test's (production: 5 s and 2 s): fewer idle commits
            env |= {"BITRIX_FETCH_INTERVAL": "1", "BITRIX_FETCH_BUSY_INTERVAL": "0.2"}
            env |= {  # Telegram on a webhook nobody writes to: no getUpdates loop in the count
                "TELEGRAM_MODE": "webhook",
                "TELEGRAM_LOCAL_SERVER": "true",
                "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
            }
            env["WEB_PORT"] = str(port)
            proc = _serve("helpbot", env, workdir, port)
            deadline = time.monotonic() + args.time_limit
            try:

                def answers() -> int:
                    return sum(len(b24.bot_messages(c)) - 1 for c in chats)  # less the welcome

                # start-up included: on a loaded machine importing and loading the knowledge
                # base alone took 20 s
                welcomed = await _until(lambda: all(b24.bot_messages(c) for c in chats), deadline)
                if not welcomed:
                    log = _tail(workdir / f"serve-{port}.log")
                    limit = f"{args.time_limit:g} s"
                    raise SystemExit(f"bitrix: no welcome in every chat within {limit}\n{log}")

                await b24.customer_sends(chats[0], QUESTIONS[0])  # the warm-up, as above
                if not await _until(lambda: answers() >= 1, deadline):
                    raise SystemExit("bitrix: no answer to the warm-up message")

                async def load() -> None:
                    for n in range(args.bitrix):
                        await b24.customer_sends(
                            chats[n % len(chats)], args.texts[n % len(args.texts)]
                        )

                m = await _measure(workdir, [proc], load, lambda: answers() > args.bitrix, deadline)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
        done = answers() - 1
    if not m["finished"]:
        print(f"bitrix: only {done} of {args.bitrix} answers within {args.time_limit} s")
    return _figures(done, m["elapsed"], m)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def _healthy(
    http: aiohttp.ClientSession, port: int, deadline: float, proc: subprocess.Popen[bytes]
) -> bool:
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                if response.status == 200:
                    return True
        await asyncio.sleep(0.1)  # the replica is still starting
    return False


def _serving(log: Path, proc: subprocess.Popen[bytes]) -> bool:
    """`helpbot serve` has said it serves (after it listens), or has exited (reported next)."""
    return proc.poll() is not None or b"helpbot serving" in log.read_bytes()


def _ledger(
    args: argparse.Namespace,
    kind: str,
    procs: list[subprocess.Popen[bytes]],
    balancer: subprocess.Popen[bytes] | None,
    db: dict[str, str],
) -> cpu_split.Ledger:
    """The run's processes for bench/cpu_split.py: the bots, the balancer, this process (the fake
    and the load generator) and, on PostgreSQL, the database's backends (and, with --pg-waits,
    what they wait for while several replicas work)."""
    groups = {kind: [p.pid for p in procs], "bench": [os.getpid()]}
    if balancer is not None:
        groups["balancer"] = [balancer.pid]
    url = make_url(db.get("DATABASE_URL") or db.get("url") or "sqlite://")
    database = url.database if url.get_backend_name() == "postgresql" else None
    waits = None
    if database and args.pg_waits and len(procs) > 1:
        waits = os.environ.get("TEST_DATABASE_URL", PG_DEFAULT)
    return cpu_split.Ledger(groups, database, waits_server=waits)


def _balance(port: int, replicas: list[int], workdir: Path) -> subprocess.Popen[bytes]:
    """bench/balancer.py on ``port``: each webhook POST to the next replica."""
    with (workdir / "balancer.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, str(BALANCER), str(port), *map(str, replicas)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


@contextlib.asynccontextmanager
async def throwaway_database(server: str, prefix: str) -> AsyncIterator[tuple[str, str]]:
    """A new database on ``server``'s PostgreSQL for the block, dropped after it: its name
    and URL (password included: for the child processes' environment, never printed)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        await _pg_admin(server, f'CREATE DATABASE "{name}"')
        yield name, url
    finally:
        await _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _pg_admin(server: str, statement: str) -> None:
    engine = create_async_engine(make_url(server), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


TARGETS = (  # issue 12, "Targets"
    ("commits per Telegram text", "≤ 3"),
    ("commits per lone Telegram text", "≤ 3"),
    ("commits per Bitrix24 message", "≤ 3"),
    ("msg/s, SQLite", "≥ 100"),
    ("msg/s, PostgreSQL", "≥ 150"),
    ("CPU ms per message", "≤ 10"),
    ("helpbot / minimal bot", "≥ 0.7"),
    ("msg/s with 50 ms per Bot API call", "≥ 30"),
    ("2 / 1 replicas on PostgreSQL", "≥ 1.6"),
    ("p99 reply ms at 50 msg/s, SQLite", "≤ 250"),
    ("idle CPU % of a core, SQLite", "≤ 1"),
)


def _met(target: str, value: float) -> str:
    bound = float(target.split()[1])
    ok = value <= bound if target.startswith("≤") else value >= bound
    return "met" if ok else "NOT met"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--chats", type=int, default=30)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--postgres-only", action="store_true", help="only the PostgreSQL runs (1, minimal, 2)"
    )
    parser.add_argument("--latency", type=float, default=0.05, help="0: skip the latency runs")
    parser.add_argument("--bitrix", type=int, default=100, help="0: skip the Bitrix24 run")
    parser.add_argument(
        "--rate", type=float, default=50.0, help="msg/s of the steady run (SQLite); 0: skip it"
    )
    parser.add_argument(
        "--lone", type=int, default=30, help="texts sent one at a time (SQLite); 0: skip them"
    )
    parser.add_argument(
        "--fronts",
        default="reuseport",
        help="two replicas on one port (reuseport, WEB_REUSE_PORT) and/or behind bench/balancer.py"
        " (balancer): a comma-separated list, each a run in that order",
    )
    parser.add_argument(
        "--pg-waits",
        action="store_true",
        help="sample pg_stat_activity and pg_locks every 20 ms while two replicas work",
    )
    parser.add_argument(
        "--texts", type=Path, help='a JSONL set whose questions ("q") are sent, in turn'
    )
    parser.add_argument(
        "--calls",
        action="store_true",
        help="count each helpbot's statements by kind, its workers' looks and claims (empty ones"
        " too) and the notifications it hears (bench/counted.py; costs CPU: not for CPU figures)",
    )
    parser.add_argument(
        "--pin-bots",
        type=int,
        metavar="CPU",
        help="run every helpbot process on that core alone (sched_setaffinity): two replicas"
        " then take turns on one core, so what they cost beside each other is told apart from"
        " what running at once on two cores costs",
    )
    parser.add_argument(
        "--steady-only", action="store_true",
        help="only the steady runs (--rate): helpbot, then the minimal bot at the same rate",
    )  # fmt: skip
    parser.add_argument(
        "--trace", type=Path,
        help="a folder: the steady run's per-message timestamps go there (bench/tail.py)",
    )  # fmt: skip
    args = parser.parse_args()
    args.texts = _texts(args.texts)
    results: dict[str, dict[str, float]] = {}
    trace = None
    if args.trace is not None:
        args.trace.mkdir(parents=True, exist_ok=True)
        trace = args.trace / time.strftime("steady-%H%M%S")
    if args.steady_only:
        results[f"helpbot, SQLite, {args.rate:g}/s steady"] = await run_once(
            "steady", {}, args, rate=args.rate, trace=trace
        )
        results[f"minimal, SQLite, {args.rate:g}/s steady"] = await run_once(
            "minimal steady", {}, args, rate=args.rate, kind="minimal"
        )
        _print(args, results)
        return
    if args.postgres_only:
        args.latency = args.rate = args.lone = args.bitrix = 0
    else:
        results["helpbot, SQLite"] = await run_once("sqlite", {}, args)
        results["minimal, SQLite"] = await run_once("minimal sqlite", {}, args, kind="minimal")
    server = os.environ.get("TEST_DATABASE_URL", PG_DEFAULT)
    if not args.no_postgres:
        async with throwaway_database(server, "helpbot_bench") as (name, url):
            results["helpbot, PostgreSQL"] = await run_once("pg", {"DATABASE_URL": url}, args)
            for key, kind, replicas, front in _pg_setups(args):
                await _pg_admin(server, f'DROP DATABASE "{name}" WITH (FORCE)')
                await _pg_admin(server, f'CREATE DATABASE "{name}"')
                db = {"url": url} if kind == "minimal" else {"DATABASE_URL": url}
                results[key] = await run_once(
                    key, db, args, replicas=replicas, kind=kind, front_kind=front
                )
    if args.latency:
        ms = f"+{args.latency * 1000:.0f} ms"
        for kind in ("helpbot", "minimal"):
            results[f"{kind}, SQLite, {ms}"] = await run_once(
                f"{kind} latency", {}, args, kind=kind, latency=args.latency
            )
    if args.rate:
        results[f"helpbot, SQLite, {args.rate:g}/s steady"] = await run_once(
            "steady", {}, args, rate=args.rate, trace=trace
        )
    if args.lone:
        results["helpbot, SQLite, one at a time"] = await run_once("lone", {}, args, lone=args.lone)
    if args.bitrix:
        results["helpbot, SQLite, Bitrix24"] = await run_bitrix(args)
    _print(args, results)


def _pg_setups(args: argparse.Namespace) -> list[tuple[str, str, int, str]]:
    """The PostgreSQL runs after one helpbot: (row, kind, replicas, front) — the minimal bot,
    then two helpbots for each of --fronts, in its order (the targets read the reuse-port row,
    else the balancer's)."""
    fronts = [f.strip() for f in args.fronts.split(",") if f.strip()]
    if not set(fronts) <= {"reuseport", "balancer"}:
        raise SystemExit(f"--fronts: reuseport or balancer, not {args.fronts}")
    setups = [("minimal, PostgreSQL", "minimal", 1, "")]
    for front in fronts:
        key = "helpbot, PostgreSQL x2" + (", balancer" if front == "balancer" else "")
        setups.append((key, "helpbot", 2, front))
    return setups


def _print_split(results: dict[str, dict[str, float]]) -> None:
    """Each PostgreSQL run's CPU per message by process (bench/cpu_split.py), what backends
    did while two replicas worked (--pg-waits), and the 2 / 1 ceiling those figures allow."""
    rows = {k: r for k, r in results.items() if "PostgreSQL" in k and "ms bench" in r}
    if not rows:
        return
    groups = ("helpbot", "minimal", "postgres", "postgres server", "bench", "balancer", "others")
    heads = ("helpbot", "minimal", "pg", "pg server", "bench", "balancer", "others")
    print("CPU ms per message by process (pg: the database's backends, pg server: PostgreSQL's own")
    print(" processes; bench: the fake Bot API and the load generator; others: the machine's busy")
    print(" time no process of the run spent; each bot: each replica's share), and the window:")
    print(f"{'setup':<36}" + "".join(f"{g:>10}" for g in heads) + f"{'each bot':>14}{'s':>6}")
    for label, r in rows.items():
        cells = "".join(f"{r.get(f'ms {g}', float('nan')):>10.2f}" for g in groups)
        mine = [r[k] for k in sorted(r) if k.startswith("ms helpbot#")]
        share = "/".join(f"{v:.1f}" for v in mine) if len(mine) > 1 else ""
        print(f"{label:<36}{cells}{share:>14}{r['ms window s']:>6.1f}")
    for label, r in rows.items():
        waits = {k.removeprefix("waits "): v for k, v in r.items() if k.startswith("waits ")}
        if waits:
            samples = int(waits.pop("samples"))
            most = sorted(waits.items(), key=lambda kv: -kv[1])
            seen = ", ".join(f"{k} {v:.2f}" for k, v in most)
            print(f"{label}: backends per sample of pg_stat_activity ({samples} samples): {seen}")
    one = {k.removeprefix("ms "): v for k, v in results.get("helpbot, PostgreSQL", {}).items()}
    cores = float(os.cpu_count() or 1)
    for label, r in rows.items():
        if "x2" not in label:
            continue
        two = {k.removeprefix("ms "): v for k, v in r.items()}
        top = cpu_split.ceiling(two, cores)
        others = r.get("ms others", 0.0) * r["replies"] / 1000 / max(r["ms window s"], 1e-9)
        beside = top.bot_ms / one["helpbot"] if one.get("helpbot") else float("nan")
        print(
            f"2/1 ceiling on this machine: {top.ratio:.2f}, from the other processes' CPU per"
            f" message ({label}: {top.bot_ms:.1f} ms of helpbot, {top.rest_ms:.1f} ms of the"
            f" rest, on {cores:g} cores; 1.6 would take {top.cores_for(1.6):.1f} cores; helpbot's"
            f" CPU a message with two replicas / with one: {beside:.2f}; the machine's other"
            f" work took {others:.2f} cores meanwhile)"
        )


def _print_calls(results: dict[str, dict[str, float]]) -> None:
    """--calls: each kind's count per message, one column a helpbot run."""
    rows = {k: r for k, r in results.items() if any(n.startswith("calls ") for n in r)}
    if not rows:
        return
    kinds = {n.removeprefix("calls ") for r in rows.values() for n in r if n[:6] == "calls "}
    print("per message (--calls):" + "".join(f"{label[-18:]:>20}" for label in rows))
    for kind in sorted(kinds):
        cells = [r.get(f"calls {kind}", 0.0) / max(r["replies"], 1) for r in rows.values()]
        if any(cells):
            print(f"  {kind[:90]:<90}" + "".join(f"{c:>10.3f}" for c in cells))


def _print(args: argparse.Namespace, results: dict[str, dict[str, float]]) -> None:
    kinds = len(set(args.texts))
    print(f"{args.messages} Telegram texts over {args.chats} chats (webhook, loopback)", end="")
    print(f", {kinds} different in turn", end="")
    print(f"; {args.bitrix} Bitrix24 messages over {args.chats} chats" if args.bitrix else "")
    head = ["replies", "seconds", "msg/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "commits"]
    head += ["net", "txns", "stmts"]
    head.append("CPU ms")
    print(f"{'setup':<28}" + "".join(f"{h:>9}" for h in head) + f"{'idle commits/s':>16}", end="")
    print(f"{'idle CPU %':>12}")
    for label, r in results.items():
        cells = ("replies", "seconds", "per_second", "p50_ms", "p90_ms", "p99_ms", "max_ms")
        row = [f"{r[k]:>9.1f}" if k in r else f"{'-':>9}" for k in cells]
        row += [
            f"{r[k]:>9.1f}" for k in ("commits", "net_commits", "begins", "statements", "cpu_ms")
        ]
        print(
            f"{label:<28}" + "".join(row) + f"{r['idle_commits']:>16.1f}{r['idle_cpu_pct']:>12.2f}"
        )
    print("(commits, txns begun (reads too), stmts, CPU ms: per message over the whole load;")
    print(" idle commits/s and CPU: the 3 s before it; net: commits less that idle rate over the")
    print(" load's window, the count the targets mean)")

    def rate(key: str) -> float:
        return results[key]["per_second"] if key in results else float("nan")

    ratios = {}
    for suffix in (", SQLite", ", PostgreSQL", f", SQLite, +{args.latency * 1000:.0f} ms"):
        if f"helpbot{suffix}" in results and rate(f"minimal{suffix}"):
            ratios[suffix] = rate(f"helpbot{suffix}") / rate(f"minimal{suffix}")
            print(f"helpbot / minimal{suffix}: {ratios[suffix]:.2f}")
    for key in ("helpbot, PostgreSQL x2, balancer", "helpbot, PostgreSQL x2"):
        if key in results and rate("helpbot, PostgreSQL"):
            ratios["x2"] = rate(key) / rate("helpbot, PostgreSQL")
            print(
                f"2 / 1 replicas on PostgreSQL{key.removeprefix('helpbot, PostgreSQL x2')}:", end=""
            )
            print(f" {ratios['x2']:.2f}")
    sqlite = results.get("helpbot, SQLite", {})
    measured = {
        "commits per Telegram text": sqlite.get("net_commits"),
        "commits per lone Telegram text": results.get("helpbot, SQLite, one at a time", {}).get(
            "net_commits"
        ),
        "commits per Bitrix24 message": results.get("helpbot, SQLite, Bitrix24", {}).get(
            "net_commits"
        ),
        "msg/s, SQLite": sqlite.get("per_second"),
        "msg/s, PostgreSQL": results.get("helpbot, PostgreSQL", {}).get("per_second"),
        "CPU ms per message": sqlite.get("cpu_ms"),
        "helpbot / minimal bot": ratios.get(", SQLite"),
        "msg/s with 50 ms per Bot API call": (
            rate("helpbot, SQLite, +50 ms") if args.latency == 0.05 else None
        ),
        "2 / 1 replicas on PostgreSQL": ratios.get("x2"),
        "idle CPU % of a core, SQLite": sqlite.get("idle_cpu_pct"),
        "p99 reply ms at 50 msg/s, SQLite": (
            results.get("helpbot, SQLite, 50/s steady", {}).get("p99_ms")
        ),
    }
    _print_split(results)
    _print_calls(results)
    print("issue 12 targets:")
    for what, target in TARGETS:
        value = measured[what]
        verdict = "not measured" if value is None else f"{value:.2f}  {_met(target, value)}"
        print(f"  {what:<36}{target:>8}   {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
