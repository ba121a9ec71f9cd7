"""End-to-end load through the Telegram webhook path: messages per second and reply latency.

    python bench/load.py [--messages 500] [--chats 50] [--time-limit 120] [--no-postgres]

The fake Bot API (tests/fakes/) runs in this process on 127.0.0.1 and POSTs updates to the
webhook of real `helpbot serve` subprocesses: one replica on SQLite (a temp file), one on
PostgreSQL, then two on one PostgreSQL database behind a loopback round-robin balancer (a
throwaway database on TEST_DATABASE_URL's server, dropped at the end). Latency is the time from
the fake starting to deliver an update to the bot's sendMessage arriving for it (the k-th reply of
a chat answers its k-th update). Loopback only; each run stops after --time-limit seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
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
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakes.telegram_server import FakeTelegram, WebhookPolicy

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
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_CHAT_PER_SECOND": FAST,
            "TELEGRAM_GLOBAL_PER_SECOND": FAST,
        }
    )


def _record_deliveries(fake: FakeTelegram) -> dict[int, list[float]]:
    """Per chat, when the fake first started to POST each of its updates (in update order)."""
    started: dict[int, list[float]] = defaultdict(list)
    seen: set[int] = set()
    delivery = fake._world.delivery  # the fake's internals: the bench measures from here
    deliver = delivery._deliver

    async def timed(config: Any, update: Any) -> None:
        if update.update_id not in seen:
            seen.add(update.update_id)
            started[update.queue_key].append(time.monotonic())
        await deliver(config, update)

    delivery._deliver = timed
    return started


def _serve(env: dict[str, str], workdir: Path, port: int) -> subprocess.Popen[bytes]:
    with (workdir / f"serve-{port}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def _until(check: Any, deadline: float) -> bool:
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)  # a benchmark's poll of the fake's records
    return True


async def run_once(
    label: str, db: dict[str, str], args: argparse.Namespace, replicas: int = 1
) -> dict[str, float]:
    """``replicas`` processes against a fresh fake: the figures of one configuration."""
    policy = WebhookPolicy(retry_base=0.05, retry_cap=0.5, max_attempts=20, timeout=30.0)
    async with (
        FakeTelegram(webhook_policy=policy, local_mode=True) as fake,  # loopback webhook
        aiohttp.ClientSession() as http,
    ):
        started = _record_deliveries(fake)
        people = [fake.add_user(f"P{n}") for n in range(args.chats)]
        ports = [_free_port() for _ in range(replicas)]
        proxy = await _round_robin(http, ports) if replicas > 1 else None
        hook = f"http://127.0.0.1:{proxy[1] if proxy else ports[0]}/telegram/webhook"
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            procs = []
            deadline = time.monotonic() + args.time_limit
            try:
                for port in ports:  # one after the other: the first one migrates the database
                    env = _env(fake, port, db, workdir) | {"TELEGRAM_WEBHOOK_URL": hook}
                    env.setdefault("DATABASE_SQLITE_PATH", str(workdir / "helpbot.db"))
                    procs.append(_serve(env, workdir, port))
                    if not await _healthy(http, port, deadline):
                        log = _tail(workdir / f"serve-{port}.log")
                        raise SystemExit(f"{label}: the replica on {port} never started\n{log}")
                if not await _until(lambda: fake.webhook_info()["url"], deadline):
                    raise SystemExit(f"{label}: the bot never set its webhook")
                t0 = time.monotonic()
                for n in range(args.messages):
                    fake.user_sends(people[n % len(people)], QUESTIONS[n % len(QUESTIONS)])

                def replies() -> int:
                    return len(fake.calls("sendMessage", ok=True))

                finished = await _until(lambda: replies() >= args.messages, deadline)
                t1 = max((c.time for c in fake.calls("sendMessage", ok=True)), default=t0)
            finally:
                for proc in procs:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=10)
                if proxy:
                    await proxy[0].cleanup()
        latencies: list[float] = []
        for person in people:
            sent = [c.time for c in fake.calls("sendMessage", chat=person, ok=True)]
            latencies += [s - d for d, s in zip(started[person.id], sent, strict=False)]
    done = replies()
    if not finished:
        print(f"{label}: only {done} of {args.messages} replies within {args.time_limit} s")
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "replies": done,
        "seconds": t1 - t0,
        "per_second": done / (t1 - t0) if t1 > t0 else 0.0,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
    }


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def _healthy(http: aiohttp.ClientSession, port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                if response.status == 200:
                    return True
        await asyncio.sleep(0.1)  # the replica is still starting
    return False


async def _round_robin(http: aiohttp.ClientSession, ports: list[int]) -> tuple[web.AppRunner, int]:
    """A loopback balancer: each webhook POST goes to the next replica, as a proxy would."""
    turn = itertools.cycle(ports)

    async def forward(request: web.Request) -> web.Response:
        url = f"http://127.0.0.1:{next(turn)}{request.path}"
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with http.post(url, data=await request.read(), headers=headers) as response:
            body = await response.read()
            return web.Response(
                status=response.status, body=body, content_type=response.content_type
            )

    app = web.Application()
    app.router.add_post("/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def _pg_admin(server: str, statement: str) -> None:
    engine = create_async_engine(make_url(server), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results = {"1 replica, SQLite": await run_once("sqlite", {}, args)}
    server = os.environ.get("TEST_DATABASE_URL", PG_DEFAULT)
    if not args.no_postgres:
        name = f"helpbot_bench_{secrets.token_hex(4)}"
        await _pg_admin(server, f'CREATE DATABASE "{name}"')
        try:
            url = make_url(server).set(database=name).render_as_string(hide_password=False)
            results["1 replica, PostgreSQL"] = await run_once("pg", {"DATABASE_URL": url}, args)
            await _pg_admin(server, f'DROP DATABASE "{name}" WITH (FORCE)')
            await _pg_admin(server, f'CREATE DATABASE "{name}"')
            results["2 replicas, PostgreSQL"] = await run_once(
                "pg x2", {"DATABASE_URL": url}, args, replicas=2
            )
        finally:
            await _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"{args.messages} messages over {args.chats} chats, Telegram webhook, loopback")
    print(f"{'setup':<24}{'replies':>8}{'seconds':>9}{'msg/s':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for label, r in results.items():
        print(
            f"{label:<24}{r['replies']:>8.0f}{r['seconds']:>9.1f}{r['per_second']:>8.1f}"
            f"{r['p50_ms']:>9.0f}{r['p99_ms']:>9.0f}"
        )
    figures = list(results.values())
    for label, r in list(results.items())[1:]:
        if figures[0]["per_second"]:
            ratio = r["per_second"] / figures[0]["per_second"]
            print(f"{label} / 1 replica, SQLite throughput: {ratio:.2f}")
    if len(figures) == 3 and figures[1]["per_second"]:
        ratio = figures[2]["per_second"] / figures[1]["per_second"]
        print(f"2 / 1 replicas on PostgreSQL throughput: {ratio:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
