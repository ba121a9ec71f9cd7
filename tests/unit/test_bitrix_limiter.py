"""The client-side leaky bucket, on a fake clock whose sleep moves time forward."""

from __future__ import annotations

import asyncio

import pytest

from handlers.bitrix24.rest.limiter import LeakyBucket


class FakeTime:
    """A monotonic clock that only moves when somebody sleeps (or a test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def bucket(t: FakeTime, burst: int = 50, rate: float = 2.0) -> LeakyBucket:
    return LeakyBucket(burst, rate, clock=t.clock, sleep=t.sleep)


async def test_a_full_burst_goes_at_once() -> None:
    t = FakeTime()
    limiter = bucket(t)
    waits = [await limiter.acquire() for _ in range(50)]
    assert waits == [0.0] * 50
    assert t.sleeps == []


async def test_the_call_after_the_burst_waits_for_one_drain() -> None:
    t = FakeTime()
    limiter = bucket(t, burst=50, rate=2.0)
    for _ in range(50):
        await limiter.acquire()
    assert limiter.delay() == pytest.approx(0.5)
    assert await limiter.acquire() == pytest.approx(0.5)


async def test_concurrent_callers_queue_in_arrival_order() -> None:
    t = FakeTime()
    limiter = bucket(t, burst=2, rate=2.0)
    waits = await asyncio.gather(*(limiter.acquire() for _ in range(5)))
    assert waits == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5])


async def test_the_level_drains_with_time() -> None:
    t = FakeTime()
    limiter = bucket(t, burst=10, rate=2.0)
    for _ in range(10):
        await limiter.acquire()
    assert limiter.level == pytest.approx(10)
    t.now += 2.5
    assert limiter.level == pytest.approx(5)
    t.now += 100
    assert limiter.level == 0
    assert await limiter.acquire() == 0.0


async def test_saturate_makes_the_next_call_wait() -> None:
    t = FakeTime()
    limiter = bucket(t, burst=50, rate=2.0)
    await limiter.acquire()
    limiter.saturate()
    assert await limiter.acquire() == pytest.approx(0.5)


async def test_no_window_ever_exceeds_burst_plus_drain() -> None:
    """Simulate sends at the granted times: any window [a, b] holds at most burst + rate·(b − a)."""
    t = FakeTime()
    burst, rate = 5, 4.0
    limiter = bucket(t, burst=burst, rate=rate)
    sends: list[float] = []
    for i in range(60):
        if i % 7 == 0:
            t.now += 0.3  # some idle gaps between bursts
        waited = await limiter.acquire()
        sends.append(t.now + waited)
    sends.sort()
    for i, start in enumerate(sends):
        for j in range(i, len(sends)):
            assert j - i + 1 <= burst + rate * (sends[j] - start) + 1e-9, (i, j)


@pytest.mark.parametrize(("burst", "rate"), [(0, 2.0), (10, 0.0), (10, -1.0)])
def test_nonsense_limits_are_refused(burst: int, rate: float) -> None:
    with pytest.raises(ValueError):
        LeakyBucket(burst, rate)
