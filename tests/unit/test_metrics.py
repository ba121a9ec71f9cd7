"""The metrics registry: Prometheus text format 0.0.4, safe label values, collectors, errors."""

from __future__ import annotations

import logging

import pytest

from bot.metrics import Counter, CountErrors, Gauge, Histogram, Metrics, Registry


async def test_exposition_format_of_each_kind() -> None:
    registry = Registry()
    sent = registry.add(Counter("x_sent_total", "Sent.", ["channel"]))
    depth = registry.add(Gauge("x_depth", "Depth."))
    took = registry.add(Histogram("x_seconds", "Took.", (0.1, 1.0)))
    sent.inc(channel="telegram")
    sent.inc(2, channel="telegram")
    depth.set(3)
    took.observe(0.05)
    took.observe(0.5)
    assert await registry.expose() == (
        "# HELP x_sent_total Sent.\n# TYPE x_sent_total counter\n"
        'x_sent_total{channel="telegram"} 3\n'
        "# HELP x_depth Depth.\n# TYPE x_depth gauge\nx_depth 3\n"
        "# HELP x_seconds Took.\n# TYPE x_seconds histogram\n"
        'x_seconds_bucket{le="0.1"} 1\nx_seconds_bucket{le="1"} 2\nx_seconds_bucket{le="+Inf"} 2\n'
        "x_seconds_sum 0.55\nx_seconds_count 2\n"
    )


def test_free_text_and_tokens_never_become_label_values() -> None:
    counter = Counter("x_total", "X.", ["kind"])
    counter.inc(kind='как восстановить "пароль"\n')
    counter.inc(kind="123456:ABC-DEF " * 10)
    counter.inc(kind="answer")
    assert counter.value(kind="other") == 2 and counter.value(kind="answer") == 1
    with pytest.raises(ValueError, match="labels"):
        counter.inc(channel="telegram")
    with pytest.raises(ValueError):
        counter.inc(-1, kind="answer")


async def test_a_failing_collector_leaves_the_rest_exposed() -> None:
    registry = Registry()
    registry.add(Gauge("x_up", "Up.")).set(1)

    async def broken() -> None:
        raise ConnectionError("database down")

    registry.collect_with(broken)
    assert "x_up 1\n" in await registry.expose()


def test_error_records_are_counted_by_logger() -> None:
    metrics = Metrics.create()
    handler = CountErrors(metrics.errors)
    logger = logging.getLogger("handlers.test_metrics")
    logger.addHandler(handler)
    try:
        logger.warning("not counted")
        logger.error("counted")
        logger.critical("counted too")
    finally:
        logger.removeHandler(handler)
    assert metrics.errors.value(logger="handlers.test_metrics") == 2


def test_histogram_time_and_duplicate_names() -> None:
    metrics = Metrics.create()
    with metrics.match_seconds.time():
        pass
    assert metrics.match_seconds.count() == 1
    with pytest.raises(ValueError, match="twice"):
        metrics.registry.add(Counter("helpbot_errors_total", "Again.", ["logger"]))
