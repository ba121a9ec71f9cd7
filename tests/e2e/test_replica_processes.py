"""Two real `helpbot serve` replicas on one PostgreSQL database and one Redis; one dies by kill -9.

Everything outside the bot is a loopback stand-in in this process: FakeTelegram posts updates to a
round-robin balancer in front of both replicas' webhooks (the company's load balancer), and each
replica reaches FakeBitrix24 through a tap of its own that notes its ``imbot.v2.Event.get`` calls,
which tells the pollers apart. Both draw their Telegram send limits from buckets in the one Redis.
In Bitrix24 fetch mode only the holder of the database lease polls; the test kills that holder
mid-traffic, and the other replica must take the lease over within the lease's life and keep
answering. Every question must get its reply. Bitrix24 must get exactly one: each message carries
a ``templateId`` the portal deduplicates by, so a send cut off by the kill is safe to repeat.
Telegram's ``sendMessage`` has no such key: the one call the killed replica had in flight may
arrive twice, and the replica that repeats it logs the repeat.

A second test runs two replicas on one port with WEB_REUSE_PORT, no balancer in front: the kernel
spreads the fake's connections over both, and each question is answered once.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import aiohttp
import deadline
import pytest
from aiohttp import web
from conftest import redis_indexes_in_use
from fakes.bitrix24 import FakeBitrix24
from fakes.bitrix24 import FakeChat as BitrixChat
from fakes.telegram_server import SECRET_HEADER, FakeTelegram, FakeUser, WebhookPolicy
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from yarl import URL

from bot.settings import DeliverySettings
from bot.storage.db import create_engine
from bot.storage.models import DeliveryStatus, InboxUpdate, Lease, OutboxMessage
from handlers.bitrix24.poller import LEASE
from handlers.bitrix24.settings import BitrixSettings
from handlers.cli.bitrix import register_bot
from handlers.settings import Settings

log = logging.getLogger(__name__)

REDIS_ENV = "TEST_REDIS_URL"
BOT_TOKEN = "bot-token-0123456789abcdef"
SECRET = "replica-secret_0123456789"
WEBHOOK_PATH = "/telegram/webhook"
SEND_KEYS = (
    "helpbot:send:"  # handlers.telegram.sendlimits' fixed prefix: hence a Redis database of our own
)
PEOPLE = CHATS = 20  # Telegram people and Bitrix24 open-line chats
# Entry titles asked verbatim: each reply repeats its entry's title, so it names its question.
# Two go in well before the kill, one just before it, one after it.
TITLES = (
    "Как восстановить пароль от Битрикс24",
    "Как создать и настроить открытую линию",
    "Как работать с канбаном в CRM",
    "Как заблокировать документ на диске",
)
TELEGRAM, BITRIX24 = 0, 1
UNKNOWN_OUTCOME = "sent again after an unknown outcome"  # the outbox's warning for a resend
LEASE_SECONDS = 4.0  # renewed every third: a holder would have to stall 2.7 s to lose it
CLAIM_SECONDS = 8.0  # well over what a loaded replica takes for one batch of rows
MARGIN = 6.0  # scheduling slack on a loaded 2-core machine
# The lease runs out at most LEASE_SECONDS after the kill; the other replica looks every third.
TAKEOVER_BOUND = LEASE_SECONDS + LEASE_SECONDS / 3 + MARGIN
FAST = 10_000.0  # send limits out of the way: the test is about replicas, not throttling
START_DEADLINE = 60.0
FINISH_DEADLINE = 90.0


def _fake_telegram() -> FakeTelegram:
    """The Bot API both tests' replicas talk to: a local server (http webhooks on loopback)
    whose deliveries retry quickly and long enough to outlast a replica's death."""
    policy = WebhookPolicy(retry_base=0.05, retry_cap=0.5, max_attempts=50, timeout=30.0)
    return FakeTelegram(webhook_policy=policy, local_mode=True)


@dataclass
class Replica:
    """One `helpbot serve` process: its name (REPLICA_ID), web port, log and Event.get calls."""

    name: str
    port: int
    log: Path
    polls: list[float] = field(default_factory=list)  # monotonic times
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Balancer:
    """Round robin over the replicas' webhooks; passes over a replica that refuses or drops the
    connection, as a proxy would; counts the updates each replica accepted."""

    def __init__(self, http: aiohttp.ClientSession, replicas: list[Replica]) -> None:
        self.accepted: Counter[str] = Counter()
        self._http = http
        self._replicas = replicas
        self._turn = itertools.cycle(replicas)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(WEBHOOK_PATH, self._forward)
        return app

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k in ("Content-Type", SECRET_HEADER) if (v := request.headers.get(k))}
        for _ in self._replicas:
            replica = next(self._turn)
            try:
                async with self._http.post(
                    replica.url + WEBHOOK_PATH, data=body, headers=headers
                ) as response:
                    answer = await response.read()
            except aiohttp.ClientConnectionError:
                continue  # a repeat is harmless: the inbox dedupes by update_id
            if 200 <= response.status < 300:
                self.accepted[replica.name] += 1
            return web.Response(
                status=response.status, body=answer, content_type=response.content_type
            )
        return web.Response(status=502)


def _portal_tap(http: aiohttp.ClientSession, portal: str, replica: Replica) -> web.Application:
    """One replica's road to the fake portal: calls pass unchanged, Event.get calls are noted."""

    async def forward(request: web.Request) -> web.Response:
        if request.path.removesuffix(".json").endswith("/imbot.v2.Event.get"):
            replica.polls.append(time.monotonic())
        async with http.request(
            request.method,
            portal + request.path_qs,
            data=await request.read(),
            headers={"Content-Type": request.headers.get("Content-Type", "application/json")},
        ) as response:
            answer = await response.read()
        return web.Response(status=response.status, body=answer, content_type=response.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


@asynccontextmanager
async def _listening(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(
    replica: Replica, tg: FakeTelegram, hook: str, portal: str, db_url: str, redis_url: str
) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "HELPBOT_HOME")
    keep += ("XDG_DATA_HOME", "XDG_CONFIG_HOME")  # the run's own (tests/conftest.py)
    return {k: v for k, v in os.environ.items() if k in keep} | {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "KNOWLEDGE_CACHE_DIR": str(Path(__file__).parents[2] / "var" / "cache"),
        "REPLICA_ID": replica.name,
        "REPLICA_LEASE_SECONDS": str(LEASE_SECONDS),
        "REPLICA_CLAIM_SECONDS": str(CLAIM_SECONDS),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(replica.port),
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_API_URL": tg.url,
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_URL": hook,  # the balancer's, the same for both
        "TELEGRAM_LOCAL_SERVER": "true",  # a local Bot API server: http on loopback
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_CHAT_PER_SECOND": str(FAST),
        "TELEGRAM_GLOBAL_PER_SECOND": str(FAST),
        "BITRIX_WEBHOOK_URL": portal,
        "BITRIX_BOT_TOKEN": BOT_TOKEN,
        "BITRIX_EVENT_MODE": "fetch",
        "BITRIX_RATE_BURST": str(int(FAST)),
        "BITRIX_RATE_PER_SECOND": str(FAST),
        "BITRIX_FETCH_INTERVAL": "0.1",
        "BITRIX_FETCH_BUSY_INTERVAL": "0.05",
    }


@contextmanager
def reaping() -> Iterator[Callable[[Replica, dict[str, str]], None]]:
    """Starts replicas as child processes; whatever happens, each is SIGKILLed and reaped."""
    with ExitStack() as stack:

        def start(replica: Replica, env: dict[str, str]) -> None:
            out = stack.enter_context(replica.log.open("ab"))
            replica.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve"],
                env=env,
                cwd=replica.log.parent,  # no stray .env from the working tree
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_reap, replica.proc)

        yield start


def _reap(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def _tails(replicas: list[Replica]) -> str:
    return "".join(
        f"\n--- {r.name}: {r.log.name} ---\n{r.log.read_text(errors='replace')[-3000:]}"
        for r in replicas
    )


async def until(
    check: Callable[[], bool | Awaitable[bool]], what: str, seconds: float, replicas: list[Replica]
) -> float:
    """Poll the fakes' records or the database against a deadline; when ``check`` came true.

    On a time-out the replicas' last log lines go into the failure.
    """
    return await deadline.until(check, what, seconds, detail=lambda: _tails(replicas))


async def _ready(http: aiohttp.ClientSession, replica: Replica) -> bool:
    """/readyz answers 200 (database, both channels) with nothing degraded (Redis answers); a
    process that exited fails now."""
    assert replica.proc is not None
    if replica.proc.poll() is not None:
        raise AssertionError(f"{replica.name} exited with {replica.proc.poll()}{_tails([replica])}")
    with suppress(aiohttp.ClientError):
        async with http.get(replica.url + "/readyz") as response:
            return response.status == 200 and not (await response.json())["degraded"]
    return False


class SendLimitKeys:
    """The Redis database the replicas share: notes the send-limit buckets seen in it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: set[str] = set()
        self._client = Redis.from_url(url, decode_responses=True)

    async def ping(self) -> None:
        await self._client.ping()

    async def look(self) -> None:
        self.seen.update([key async for key in self._client.scan_iter(SEND_KEYS + "*")])

    async def delete(self) -> None:
        keys = [key async for key in self._client.scan_iter(SEND_KEYS + "*")]
        if keys:
            await self._client.delete(*keys)

    async def aclose(self) -> None:
        await self._client.aclose()


@pytest.fixture
async def send_limits() -> AsyncIterator[SendLimitKeys]:
    """TEST_REDIS_URL's server, another database index on it; emptied of our keys at the end."""
    base = os.environ.get(REDIS_ENV, "")
    if not base:
        pytest.skip(f"needs {REDIS_ENV}=redis://host:port/db")
    url = URL(base)
    own = base
    if url.scheme in ("redis", "rediss"):
        given = url.path.strip("/") or "0"
        taken = redis_indexes_in_use()  # the given one and the other test workers'
        index = random.choice([n for n in range(1, 16) if n not in taken and str(n) != given])
        own = str(url.with_path(f"/{index}"))
    keys = SendLimitKeys(own)
    try:
        await keys.ping()
    except RedisError:  # a server with fewer databases: share the given one
        await keys.aclose()
        keys = SendLimitKeys(base)
    try:
        yield keys
    finally:
        await keys.delete()
        await keys.aclose()


async def _lease_holder(db: AsyncEngine) -> str | None:
    async with db.connect() as conn:
        holder = await conn.scalar(select(Lease.holder).where(Lease.name == LEASE))
    return None if holder is None else str(holder)


async def _settled(db: AsyncEngine) -> bool:
    """No inbound update or outgoing call left pending, on either channel."""
    async with db.connect() as conn:
        inbox = await conn.scalar(
            select(func.count()).where(InboxUpdate.status == DeliveryStatus.PENDING)
        )
        outbox = await conn.scalar(
            select(func.count()).where(OutboxMessage.status == DeliveryStatus.PENDING)
        )
    return inbox == 0 and outbox == 0


async def _telegram_split(db: AsyncEngine) -> dict[str, int]:
    """Telegram updates processed per replica (a done row keeps its last claimer's name)."""
    async with db.connect() as conn:
        rows = await conn.execute(
            select(InboxUpdate.claimed_by, func.count())
            .where(InboxUpdate.channel == "telegram", InboxUpdate.status == DeliveryStatus.DONE)
            .group_by(InboxUpdate.claimed_by)
        )
    return {str(name): int(count) for name, count in rows}


def replies(
    tg: FakeTelegram, people: list[FakeUser], b24: FakeBitrix24, chats: list[BitrixChat]
) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
    """Telegram's and Bitrix24's replies per question: (chat, title) -> bot messages naming it."""
    texts = (
        [(f"tg{p.id}", m.text or "") for p in people for m in tg.bot_messages(p)],
        [(c.dialog_id, m.text) for c in chats for m in b24.bot_messages(c)],
    )
    counts: tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]] = (Counter(), Counter())
    for channel, pairs in enumerate(texts):
        for chat, text in pairs:
            plain = " ".join(text.split()).lower()  # the corpus keeps no-break spaces in titles
            for title in TITLES:
                if title.lower() in plain:
                    counts[channel][chat, title] += 1
    return counts


async def _start(
    start: Callable[[Replica, dict[str, str]], None],
    replicas: list[Replica],
    envs: list[dict[str, str]],
    tg: FakeTelegram,
    http: aiohttp.ClientSession,
) -> None:
    """One after the other, as a rolling start would: Telegram answers a second setWebhook
    within a second with 429, and `serve` does not retry it at start-up."""

    def webhook_at_rest() -> bool:
        calls = tg.calls("setWebhook", ok=True)
        return not calls or time.monotonic() - calls[-1].time > 1.0

    for replica, env in zip(replicas, envs, strict=True):
        await until(webhook_at_rest, "a second since setWebhook", 5.0, replicas)
        start(replica, env)
        ready = partial(_ready, http, replica)
        await until(ready, f"{replica.name} ready", START_DEADLINE, [replica])


async def test_two_replicas_share_the_work_and_one_takes_over_when_the_poller_is_killed(
    send_limits: SendLimitKeys,
    pg_db_url: str,
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    replicas = [Replica(name, _free_port(), tmp_path / f"serve-{name}.log") for name in "ab"]
    db = create_engine(pg_db_url)
    try:
        async with AsyncExitStack() as stack:
            tg = await stack.enter_async_context(_fake_telegram())
            b24 = await stack.enter_async_context(FakeBitrix24(burst=int(FAST), per_second=FAST))
            http = await stack.enter_async_context(aiohttp.ClientSession())
            balancer = Balancer(http, replicas)
            front = await stack.enter_async_context(_listening(balancer.app()))
            taps = [
                await stack.enter_async_context(_listening(_portal_tap(http, b24.url, r)))
                for r in replicas
            ]
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                bitrix=BitrixSettings(
                    webhook_url=b24.webhook_url,
                    bot_token=BOT_TOKEN,  # type: ignore[arg-type]
                ),
            )
            assert await register_bot(settings) == 0
            people = [tg.add_user(f"Person {n}") for n in range(PEOPLE)]
            chats = [await b24.open_line_chat(customer_name=f"Guest {n}") for n in range(CHATS)]
            hook = front + WEBHOOK_PATH
            portal = URL(b24.webhook_url).path
            envs = [
                _env(r, tg, hook, tap + portal, pg_db_url, send_limits.url)
                for r, tap in zip(replicas, taps, strict=True)
            ]

            world = (tg, people, b24, chats)
            expected = (
                {(f"tg{p.id}", t) for p in people for t in TITLES},
                {(c.dialog_id, t) for c in chats for t in TITLES},
            )

            async def ask(title: str) -> None:
                for person in people:
                    tg.user_sends(person, title)
                for chat in chats:
                    await b24.customer_sends(chat, title)

            def answered(channel: int) -> int:
                return len(replies(*world)[channel])

            await _start(stack.enter_context(reaping()), replicas, envs, tg, http)
            assert tg.webhook_info()["url"] == hook

            for title in TITLES[:2]:
                await ask(title)

            async def under_way() -> bool:
                await send_limits.look()
                return (
                    answered(TELEGRAM) >= PEOPLE // 2
                    and answered(BITRIX24) >= CHATS // 2
                    and len(balancer.accepted) == 2
                    and SEND_KEYS + "all" in send_limits.seen
                )

            await until(under_way, "replies through both replicas", START_DEADLINE, replicas)
            holder = await _lease_holder(db)
            victim = next(r for r in replicas if r.name == holder)
            survivor = next(r for r in replicas if r is not victim)
            assert victim.polls, f"{victim.name} holds the lease but never polled"
            assert not survivor.polls, f"{survivor.name} polled Event.get without the lease"
            assert victim.proc is not None
            await ask(TITLES[2])
            killed = time.monotonic()
            victim.proc.send_signal(signal.SIGKILL)
            assert victim.proc.wait(timeout=10) == -signal.SIGKILL
            answered_at_kill = answered(BITRIX24)
            await ask(TITLES[3])
            # A customer who starts after the kill has no rows in the dead replica's hands:
            # only the lease stands between them and an answer.
            late = await b24.open_line_chat(customer_name="Late guest")
            chats.append(late)
            expected[BITRIX24].add((late.dialog_id, TITLES[0]))
            await b24.customer_sends(late, TITLES[0])

            await until(
                lambda: bool(survivor.polls), "the survivor polls", TAKEOVER_BOUND, replicas
            )
            takeover = survivor.polls[0] - killed
            answering = await until(
                lambda: any(chat == late.dialog_id for chat, _ in replies(*world)[BITRIX24]),
                "the survivor answers a Bitrix24 customer",
                TAKEOVER_BOUND,
                replicas,
            )
            assert await _lease_holder(db) == survivor.name
            recovered = await until(
                lambda: all(
                    set(got) == want for got, want in zip(replies(*world), expected, strict=True)
                ),
                "a reply to every question",
                FINISH_DEADLINE,
                replicas,
            )
            # Doubles would come from rows still pending: wait until the database has none left.
            await until(lambda: _settled(db), "inbox and outbox drained", 30.0, replicas)
            split = await _telegram_split(db)
            tg_counts, b24_counts = replies(*world)
            b24_sent = {c.dialog_id: len(b24.bot_messages(c)) for c in chats}
            asked = Counter(chat for chat, _ in expected[BITRIX24])
            dropped = tg.webhook_dropped
            resent = sum(
                UNKNOWN_OUTCOME in line and "channel=telegram" in line
                for r in replicas
                for line in r.log.read_text(errors="replace").splitlines()
            )
    finally:
        await db.dispose()

    b24_doubled = sorted(key for key, n in b24_counts.items() if n > 1)
    tg_doubled = sorted(key for key, n in tg_counts.items() if n > 1)
    log.info(
        "takeover %.2fs, first answer %.2fs, all answered %.2fs after the kill; wall %.1fs;"
        " Bitrix24 questions answered at the kill: %d; Telegram updates accepted %s,"
        " processed %s; Telegram resends: %d, doubles: %d",
        takeover, answering - killed, recovered - killed, time.monotonic() - began,
        answered_at_kill, dict(balancer.accepted), split, resent, len(tg_doubled),
    )  # fmt: skip
    assert takeover <= TAKEOVER_BOUND, f"the lease changed hands {takeover:.1f}s after the kill"
    assert answering - killed <= TAKEOVER_BOUND, "Bitrix24 customers went unanswered too long"
    assert answered_at_kill < CHATS * 3, "the kill came too late to catch Bitrix24 traffic"
    assert set(balancer.accepted) == {"a", "b"}, f"updates accepted: {balancer.accepted}"
    assert not dropped
    assert SEND_KEYS + "all" in send_limits.seen  # the replicas' sends share Redis buckets
    assert not b24_doubled, f"{len(b24_doubled)} Bitrix24 questions doubled: {b24_doubled[:3]}"
    assert b24_sent == {chat: 1 + n for chat, n in asked.items()}  # a welcome, then the answers
    # One in flight per chat, DELIVERY_IN_FLIGHT at most (Bitrix24 resends are deduped by uuid).
    assert resent <= DeliverySettings().in_flight, f"{resent} Telegram sends had unknown outcomes"
    assert len(tg_doubled) <= resent, f"unexplained Telegram doubles: {tg_doubled[:3]}"
    assert all(tg_counts[key] == 2 for key in tg_doubled), "a reply was sent three times"


def _listeners(port: int) -> int:
    """Sockets listening on 127.0.0.1:``port`` (/proc/net/tcp): one a process with SO_REUSEPORT."""
    local = f"0100007F:{port:04X}"
    rows = [row.split() for row in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[1] == local and row[3] == "0A")


def _on_the_port(replica: Replica, listeners: int, tg: FakeTelegram) -> bool:
    """The replica says it serves (it prints that once it listens) and ``listeners`` processes
    have set the webhook; a replica that exited (say, the port taken without SO_REUSEPORT)
    fails now."""
    assert replica.proc is not None
    if replica.proc.poll() is not None:
        raise AssertionError(f"{replica.name} exited with {replica.proc.poll()}{_tails([replica])}")
    serving = b"helpbot serving" in replica.log.read_bytes()
    return serving and len(tg.calls("setWebhook")) >= listeners


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net/tcp")
async def test_two_replicas_on_one_port_both_take_webhooks_and_answer_each_once(
    pg_db_url: str, tmp_path: Path
) -> None:
    """WEB_REUSE_PORT: two `helpbot serve` on one port, no balancer. The fake Bot API opens a
    connection per update in flight (as telegram-bot-api does, up to max_connections) and the
    kernel hands each to one of the two listeners: both store updates (an update stored as its
    chat's only pending one is claimed by the replica that stored it, and its done row keeps
    that name), and every question gets its one reply."""
    port = _free_port()
    replicas = [Replica(name, port, tmp_path / f"serve-{name}.log") for name in "ab"]
    db = create_engine(pg_db_url)
    try:
        async with AsyncExitStack() as stack:
            tg = await stack.enter_async_context(_fake_telegram())
            http = await stack.enter_async_context(aiohttp.ClientSession())
            people = [tg.add_user(f"Person {n}") for n in range(PEOPLE)]
            hook = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
            start = stack.enter_context(reaping())
            for n, replica in enumerate(replicas):
                env = _env(replica, tg, hook, "", pg_db_url, "") | {"WEB_REUSE_PORT": "true"}
                for name in [k for k in env if k.startswith("BITRIX_")] + ["REDIS_URL"]:
                    del env[name]  # Telegram alone, each process counting its own send limits
                start(replica, env)
                await until(
                    partial(_on_the_port, replica, n + 1, tg),
                    f"{replica.name} listening on the shared port",
                    START_DEADLINE,
                    replicas,
                )
            await until(partial(_ready, http, replicas[0]), "ready", START_DEADLINE, replicas)
            assert _listeners(port) == 2  # /proc/net/tcp: one read, a slow one on a busy host

            def answered(title: str) -> Counter[int]:
                return Counter(
                    p.id
                    for p in people
                    for m in tg.bot_messages(p)
                    if title.lower() in " ".join((m.text or "").split()).lower()
                )

            for title in TITLES[:2]:  # all at once: one connection an update in flight
                for person in people:
                    tg.user_sends(person, title)
                await until(
                    lambda t=title: len(answered(t)) == PEOPLE,
                    f"a reply to every «{title}»",
                    FINISH_DEADLINE,
                    replicas,
                )
            await until(lambda: _settled(db), "inbox and outbox drained", 30.0, replicas)
            split = await _telegram_split(db)
            counts = [answered(title) for title in TITLES[:2]]
            dropped = tg.webhook_dropped
    finally:
        await db.dispose()
    log.info("two replicas on port %d: Telegram updates processed %s", port, split)
    assert set(split) == {"a", "b"}, f"updates stored and processed per replica: {split}"
    assert sum(split.values()) == 2 * PEOPLE
    assert all(set(c.values()) == {1} for c in counts), "a question answered twice"
    assert not dropped
