"""In-process metrics (counters, gauges, fixed-bucket histograms) in Prometheus text format 0.0.4.

A :class:`Registry` is made by the composition root and handed to whoever counts; nothing here
is global. Label values are short identifiers from our own code (a channel, a decision kind, a
logger name): anything else is exposed as ``other``, so a label can never carry a token or a
person's text.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
OTHER = "other"
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

Labels = tuple[str, ...]
Collector = Callable[[], Awaitable[None]]


def _label_values(names: Sequence[str], given: dict[str, str]) -> Labels:
    if set(given) != set(names):
        raise ValueError(f"labels {sorted(given)} given, {sorted(names)} expected")
    return tuple(v if _SAFE_VALUE.fullmatch(v) else OTHER for v in (given[n] for n in names))


def _format_labels(pairs: Sequence[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        if not _NAME.fullmatch(name) or not all(_NAME.fullmatch(n) for n in labels):
            raise ValueError(f"bad metric or label name in {name}")
        self.name, self.help, self.labels = name, help_text, tuple(labels)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> Iterator[str]:
        raise NotImplementedError

    def _pairs(self, values: Labels) -> list[tuple[str, str]]:
        return list(zip(self.labels, values, strict=True))


_M = TypeVar("_M", bound="_Metric")


class Counter(_Metric):
    """A value that only goes up (``_total`` is part of the name given)."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = _label_values(self.labels, labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(_label_values(self.labels, labels), 0.0)

    def samples(self) -> Iterator[str]:
        for key, value in sorted(self._values.items()):
            yield f"{self.name}{_format_labels(self._pairs(key))} {_number(value)}"


class Gauge(Counter):
    """A value that goes up and down; set at scrape time by a collector, or as things happen."""

    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        self._values[_label_values(self.labels, labels)] = float(value)


class Histogram(_Metric):
    """Observations counted into fixed, cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> None:
        super().__init__(name, help_text, labels)
        if "le" in self.labels or list(buckets) != sorted(set(buckets)) or not buckets:
            raise ValueError("buckets must be increasing and 'le' is reserved")
        self.buckets = (*buckets, math.inf)
        self._counts: dict[Labels, list[int]] = {}
        self._sums: dict[Labels, float] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = _label_values(self.labels, labels)
        counts = self._counts.setdefault(key, [0] * len(self.buckets))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
        self._sums[key] = self._sums.get(key, 0.0) + value

    @contextmanager
    def time(self, **labels: str) -> Iterator[None]:
        """Observe the block's duration in seconds (a monotonic clock: not the engine's Clock)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(time.perf_counter() - started, **labels)

    def count(self, **labels: str) -> int:
        counts = self._counts.get(_label_values(self.labels, labels))
        return counts[-1] if counts else 0

    def samples(self) -> Iterator[str]:
        for key, counts in sorted(self._counts.items()):
            pairs = self._pairs(key)
            for bound, count in zip(self.buckets, counts, strict=True):
                le = _format_labels([*pairs, ("le", _number(bound))])
                yield f"{self.name}_bucket{le} {count}"
            yield f"{self.name}_sum{_format_labels(pairs)} {_number(self._sums[key])}"
            yield f"{self.name}_count{_format_labels(pairs)} {counts[-1]}"


class Registry:
    """The metrics of one process; :meth:`expose` runs the scrape-time collectors first."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._collectors: list[Collector] = []

    def add(self, metric: _M) -> _M:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric
        return metric

    def collect_with(self, collector: Collector) -> None:
        """Run ``collector`` before each scrape (gauges read from the database)."""
        self._collectors.append(collector)

    async def expose(self) -> str:
        for collector in self._collectors:
            try:
                await collector()
            except Exception as exc:  # the database may be down: expose the rest regardless
                log.warning("metrics collector failed: %s", type(exc).__name__)
        lines: list[str] = []
        for metric in self._metrics.values():
            lines += metric.header()
            lines += metric.samples()
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Metrics:
    """The bot's instruments; ``Metrics.create()`` registers them in a fresh registry."""

    registry: Registry
    messages_in: Counter
    messages_out: Counter
    decisions: Counter
    match_seconds: Histogram
    send_retries: Counter
    unknown_outcomes: Counter
    errors: Counter
    queue_waiting: Gauge
    queue_oldest_wait: Gauge

    @classmethod
    def create(cls) -> Metrics:
        r = Registry()
        return cls(
            registry=r,
            messages_in=r.add(
                Counter("helpbot_messages_in_total", "Events the engine handled.", ["channel"])
            ),
            messages_out=r.add(
                Counter("helpbot_messages_out_total", "Outbox calls delivered.", ["channel"])
            ),
            decisions=r.add(
                Counter("helpbot_decisions_total", "Knowledge-base decisions.", ["kind"])
            ),
            match_seconds=r.add(
                Histogram("helpbot_match_seconds", "Time of one kb.decide.", MATCH_BUCKETS)
            ),
            send_retries=r.add(
                Counter("helpbot_send_retries_total", "Sends to be tried again.", ["channel"])
            ),
            unknown_outcomes=r.add(
                Counter(
                    "helpbot_send_unknown_outcome_total",
                    "Sends made again after a crash hid whether the last attempt arrived.",
                    ["channel"],
                )
            ),
            errors=r.add(
                Counter("helpbot_errors_total", "Records logged at ERROR or above.", ["logger"])
            ),
            queue_waiting=r.add(
                Gauge("helpbot_queue_waiting_tickets", "Tickets waiting for an operator.")
            ),
            queue_oldest_wait=r.add(
                Gauge("helpbot_queue_oldest_wait_seconds", "Age of the oldest waiting ticket.")
            ),
        )


class CountErrors(logging.Handler):
    """Counts ERROR and CRITICAL records by logger name (module names: no free text)."""

    def __init__(self, errors: Counter) -> None:
        super().__init__(level=logging.ERROR)
        self._errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        self._errors.inc(logger=record.name)
