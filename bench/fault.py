"""kill -9 in the middle of a burst, a restart, and what the people saw: lost, doubled, recovery.

    python bench/fault.py [--runs 3] [--kill-after 50]

The scenario of tests/e2e/test_fault_kill9.py, whose helpers it imports: the fake Bot API and the
fake Bitrix24 portal on 127.0.0.1, `helpbot serve` as a subprocess (Telegram polling, Bitrix24
fetch mode, SQLite), 1,000 questions over 100 chats, SIGKILL once ``--kill-after`` replies are
out, then a second process resumes from the database. Per run it prints the replies out at the
kill, the seconds from the restart until every question had its reply, the replies lost, the
doubles per channel and the Telegram sends the bot reported as of unknown outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path

from handlers.bitrix24.settings import BitrixSettings
from handlers.cli.bitrix import register_bot
from handlers.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from fakes.bitrix24 import FakeBitrix24
from fakes.telegram_server import FakeTelegram
from test_fault_kill9 import (
    BOT_TOKEN,
    CHATS,
    FAST,
    TITLES,
    UNKNOWN_OUTCOME,
    _env,
    replies,
    serving,
    settled,
)

DEADLINE = 300.0


async def _until(check: object, deadline: float) -> bool:
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)  # a benchmark's poll of the fakes' records
    return True


async def run_once(kill_after: int) -> dict[str, float]:
    async with (
        FakeTelegram(poll_hold_scale=0.1) as tg,
        FakeBitrix24(burst=int(FAST), per_second=FAST) as b24,
    ):
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            bitrix=BitrixSettings(webhook_url=b24.webhook_url, bot_token=BOT_TOKEN),  # type: ignore[arg-type]
        )
        if await register_bot(settings) != 0:
            raise SystemExit("registering the bot on the fake portal failed")
        people = [tg.add_user(f"Person {n}") for n in range(CHATS // 2)]
        chats = [await b24.open_line_chat(customer_name=f"Guest {n}") for n in range(CHATS // 2)]
        expected = {(f"tg{p.id}", t) for p in people for t in TITLES}
        expected |= {(c.dialog_id, t) for c in chats for t in TITLES}

        def answered() -> int:
            sent = sum(len(tg.bot_messages(p)) for p in people)
            return sent + sum(len(b24.bot_messages(c)) - 1 for c in chats)  # less the welcome

        with tempfile.TemporaryDirectory() as tmp:
            env, log = _env(Path(tmp), tg, b24), Path(tmp) / "serve.log"
            with serving(env, log) as first:
                for title in TITLES:
                    for person in people:
                        tg.user_sends(person, title)
                    for chat in chats:
                        await b24.customer_sends(chat, title)
                if not await _until(lambda: answered() >= kill_after, time.monotonic() + 60):
                    raise SystemExit(f"no {kill_after} replies within 60 s:\n{log.read_text()}")
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
            at_kill = answered()
            with serving(env, log):
                restarted = time.monotonic()
                done = await _until(lambda: answered() >= len(expected), restarted + DEADLINE)
                recovered = time.monotonic() - restarted
                await _until(lambda: settled(env), time.monotonic() + 20)
            resent = log.read_text(errors="replace").count(UNKNOWN_OUTCOME)
        counts = replies(tg, people, b24, chats)
    doubled = [key for key, n in counts.items() if n > 1]
    return {
        "at_kill": at_kill,
        "recovery_s": recovered if done else float("nan"),
        "rate": (len(expected) - at_kill) / recovered,
        "lost": len(expected - set(counts)),
        "tg_doubles": sum(1 for key in doubled if key[0].startswith("tg")),
        "b24_doubles": sum(1 for key in doubled if not key[0].startswith("tg")),
        "unknown": resent,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kill-after", type=int, default=50, help="replies out before the kill")
    args = parser.parse_args()
    print(f"{len(TITLES) * CHATS} questions over {CHATS} chats, SIGKILL after {args.kill_after}")
    print("run  at kill  recovery s  msg/s after  lost  tg doubles  b24 doubles  unknown outcome")
    rows = []
    for n in range(1, args.runs + 1):
        row = await run_once(args.kill_after)
        rows.append(row)
        print(
            f"{n:>3}  {row['at_kill']:>7.0f}  {row['recovery_s']:>10.1f}  {row['rate']:>11.1f}"
            f"  {row['lost']:>4.0f}  {row['tg_doubles']:>10.0f}  {row['b24_doubles']:>11.0f}"
            f"  {row['unknown']:>15.0f}"
        )
    total = {key: sum(r[key] for r in rows) for key in ("lost", "tg_doubles", "b24_doubles")}
    unknown = sum(r["unknown"] for r in rows)
    print(
        f"all runs: lost {total['lost']:.0f}, doubled {total['tg_doubles']:.0f} on Telegram "
        f"and {total['b24_doubles']:.0f} on Bitrix24; {unknown:.0f} Telegram sends of unknown "
        "outcome were made again"
    )


if __name__ == "__main__":
    asyncio.run(main())
