"""The one restart policy: a crashed or killed worker is down (named) until restarted; a fatal
error or an end keeps it down; stop ends every worker of a prefix."""

from __future__ import annotations

import asyncio

import pytest
from deadline import until

from bot import supervise
from bot.supervise import Workers


class Refused(Exception):
    pass


@pytest.fixture(autouse=True)
def quick_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervise, "FIRST_PAUSE", 0.05)


async def test_a_crashed_worker_is_down_until_restarted() -> None:
    runs: list[int] = []

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("boom")
        await asyncio.Event().wait()

    workers = Workers()
    workers.start("w crashy", work)
    await until(lambda: workers.problems(), "the crash is seen")
    assert workers.problems() == {"w crashy": "crashed: RuntimeError"}
    await until(lambda: len(runs) == 2 and workers.running("w crashy"), "the restart")
    assert workers.problems() == {}
    await workers.stop()
    assert workers.names() == [] and workers.problems() == {}


async def test_a_fatal_error_or_an_end_keeps_the_worker_down_and_a_kick_ends_a_pause() -> None:
    async def refused() -> None:
        raise Refused

    async def done() -> None:
        return None

    slow_runs: list[int] = []

    async def needs_tokens() -> None:
        slow_runs.append(1)
        if len(slow_runs) == 1:
            raise RuntimeError("no tokens yet")
        await asyncio.Event().wait()

    workers = Workers()
    workers.start("a refused", refused, fatal=(Refused,))
    workers.start("a done", done)
    workers.start("b tokens", needs_tokens, max_pause=3600)
    await until(lambda: len(workers.problems()) == 3, "all three down")
    assert workers.problems() == {
        "a refused": "stopped: Refused",
        "a done": "ended",
        "b tokens": "crashed: RuntimeError",
    }
    workers.kick("b ")
    await until(lambda: workers.running("b tokens"), "the kicked worker runs again", 5)
    await workers.stop("a ")
    assert workers.names() == ["b tokens"]
    await workers.stop()


async def test_a_name_runs_once() -> None:
    workers = Workers()
    workers.start("w", asyncio.Event().wait)
    with pytest.raises(RuntimeError, match="already running"):
        workers.start("w", asyncio.Event().wait)
    await workers.stop()
