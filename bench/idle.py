"""Idle cost of `helpbot serve`: CPU% of one core while nothing happens, both channels configured.

    python bench/idle.py [--seconds 30] [--settle 10] [--count] [--postgres]

The fake Bot API and the fake Bitrix24 portal (tests/fakes/) run in this process on 127.0.0.1;
one real `helpbot serve` subprocess (SQLite in a temp folder) talks to both with the production
defaults: Telegram long polling (TELEGRAM_POLL_TIMEOUT 25 s), Bitrix24 ``Event.get`` fetch mode
(BITRIX_FETCH_INTERVAL 5 s), the knowledge reloader following the database. After /readyz says
200 and ``--settle`` seconds pass (start-up work done), the process's user + system CPU time is
read from /proc over ``--seconds`` of idleness and printed as a percentage of one core, with the
target (issue 12: below 1%). With ``--count`` the process runs under bench/counted.py and the
database transactions begun per idle minute are printed too (its counting thread adds a little
CPU of its own, so the CPU figure of such a run reads a bit high). With ``--postgres`` the
database is a throwaway one on TEST_DATABASE_URL's server (as bench/load.py makes them) instead
of SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from load import PG_DEFAULT, _cpu_seconds, _free_port, throwaway_database

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakes.bitrix24 import FakeBitrix24
from fakes.telegram_server import FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
COUNTED = ROOT / "bench" / "counted.py"
BOT_TOKEN = "bench-bot-token-0123456789abcdef"
TARGET = 1.0  # per cent of one core (issue 12)


def _env(
    workdir: Path, port: int, tg: FakeTelegram, b24: FakeBitrix24, database: str | None
) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    db = {"DATABASE_URL": database} if database else {}
    return (
        db
        | {k: v for k, v in os.environ.items() if k in keep}
        | {
            "HELPBOT_HOME": str(workdir),
            "DATABASE_SQLITE_PATH": str(workdir / "helpbot.db"),
            "KNOWLEDGE_CACHE_DIR": str(ROOT / "var" / "cache"),
            "LOG_LEVEL": "WARNING",
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(port),
            "TELEGRAM_BOT_TOKEN": tg.token,
            "TELEGRAM_API_URL": tg.url,
            "TELEGRAM_MODE": "polling",
            "BITRIX_WEBHOOK_URL": b24.webhook_url,
            "BITRIX_BOT_TOKEN": BOT_TOKEN,
            "BITRIX_EVENT_MODE": "fetch",
        }
    )


def _serve(env: dict[str, str], workdir: Path, counts: Path | None) -> subprocess.Popen[bytes]:
    """`helpbot serve` (under bench/counted.py when ``counts`` is given), output in serve.log."""
    counted = [str(COUNTED), str(counts)] if counts is not None else []
    with (workdir / "serve.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, *counted, "-m", "bot", "serve"],
            env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _begins(path: Path) -> int:
    try:
        return int(path.read_text().split()[2])
    except (OSError, ValueError, IndexError):  # not written yet, or caught mid-write
        return -1


async def _ready(port: int, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return True
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)  # still starting
    return False


async def measure(args: argparse.Namespace) -> dict[str, float]:
    """The figures of one idle serve: on SQLite, or on a throwaway PostgreSQL database."""
    if not args.postgres:
        return await _measure(args, None)
    server = os.environ.get("TEST_DATABASE_URL", PG_DEFAULT)
    async with throwaway_database(server, "helpbot_idle") as (_, url):
        return await _measure(args, url)


async def _measure(args: argparse.Namespace, database: str | None) -> dict[str, float]:
    from handlers.bitrix24.settings import BitrixSettings
    from handlers.cli.bitrix import register_bot
    from handlers.settings import Settings

    async with FakeTelegram() as tg, FakeBitrix24() as b24:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            bitrix=BitrixSettings(webhook_url=b24.webhook_url, bot_token=BOT_TOKEN),
        )
        with contextlib.redirect_stdout(io.StringIO()):  # its how-to text is not a figure
            registered = await register_bot(settings)
        if registered != 0:
            raise SystemExit("registering the bot on the fake portal failed")
        with tempfile.TemporaryDirectory() as tmp:
            workdir, port = Path(tmp), _free_port()
            counts = workdir / "counts"
            env = _env(workdir, port, tg, b24, database)
            proc = _serve(env, workdir, counts if args.count else None)
            try:
                if not await _ready(port, proc, time.monotonic() + 60):
                    tail = (workdir / "serve.log").read_text(errors="replace")[-2000:]
                    raise SystemExit(f"helpbot serve did not become ready\n{tail}")
                await asyncio.sleep(args.settle)
                cpu0, begins0, t0 = _cpu_seconds([proc]), _begins(counts), time.monotonic()
                await asyncio.sleep(args.seconds)
                cpu1, begins1, t1 = _cpu_seconds([proc]), _begins(counts), time.monotonic()
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
    window = t1 - t0
    figures = {"seconds": window, "cpu_percent": 100 * (cpu1 - cpu0) / window}
    if args.count:
        figures["transactions_per_minute"] = 60 * (begins1 - begins0) / window
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="idle window measured")
    parser.add_argument("--settle", type=float, default=10.0, help="wait after ready first")
    parser.add_argument("--count", action="store_true", help="count database transactions too")
    parser.add_argument("--postgres", action="store_true", help="on PostgreSQL, not SQLite")
    args = parser.parse_args()
    figures = asyncio.run(measure(args))
    verdict = "met" if figures["cpu_percent"] < TARGET else "NOT met"
    print(
        f"idle helpbot serve (Telegram polling + Bitrix24 fetch, "
        f"{'PostgreSQL' if args.postgres else 'SQLite'}): "
        f"{figures['cpu_percent']:.2f}% of one core over {figures['seconds']:.0f} s "
        f"(target < {TARGET:.0f}%: {verdict})"
    )
    if "transactions_per_minute" in figures:
        print(f"database transactions begun: {figures['transactions_per_minute']:.0f} per minute")


if __name__ == "__main__":
    main()
