"""Figures for people and for export: `report stats` and `operator stats` print text (durations
as «4 мин 10 с», rates in %, ratings as a distribution and mean), JSON or CSV."""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.durations import human_duration

if TYPE_CHECKING:  # SQLAlchemy's models: imported by the commands that compute figures
    from bot.operator_stats import OperatorFigures
    from bot.queue import QueueFigures

FORMATS = ("text", "json", "csv")
Rows = list[tuple[str, Any]]


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="text", help="text, json or csv")


def ratings(values: tuple[int, ...]) -> dict[str, Any]:
    """A rating summary: how many, the mean, and the count of each 1–5."""
    from bot.operator_stats import ratings_distribution

    return {
        "count": len(values),
        "mean": round(statistics.fmean(values), 2) if values else None,
        "distribution": {str(k): v for k, v in ratings_distribution(values).items()},
    }


def operator_rows(operators: tuple[OperatorFigures, ...]) -> list[dict[str, Any]]:
    return [
        {
            "operator": o.operator,
            "taken": o.taken,
            "first_response_median": o.first_response,
            "resolved": o.resolved,
            "rating_mean": round(o.mean_rating, 2) if o.mean_rating is not None else None,
            "ratings": len(o.ratings),
        }
        for o in operators
    ]


def queue_rows(f: QueueFigures) -> Rows:
    return [
        ("waiting", f.waiting),
        ("taken", f.taken),
        ("tickets", f.tickets),
        ("median_wait", f.median_wait),
        ("median_first_response", f.median_first_response),
        ("ratings", ratings(f.ratings)),
        ("operators", operator_rows(f.operators)),
    ]


def emit(rows: Rows, fmt: str, lang: str) -> None:
    """Print ``rows`` as text (for people), JSON or CSV (durations in seconds for both)."""
    if fmt == "json":
        print(json.dumps({k: _plain(v) for k, v in rows}, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["metric", "value"])
        for name, value in rows:
            for key, item in _flat(name, _plain(value)):
                writer.writerow([key, "" if item is None else item])
    else:
        for name, value in rows:
            if name == "operators":
                _operators_table(value, lang)
            else:
                print(f"{name:<24} {_show(value, lang)}")


def _plain(value: Any) -> Any:
    if isinstance(value, timedelta):
        return round(value.total_seconds(), 3)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _flat(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _flat(f"{prefix}.{k}", v)]
    if isinstance(value, list):
        out = []
        for item in value:
            name = item.get("operator") if isinstance(item, dict) else None
            rest = {k: v for k, v in item.items() if k != "operator"} if name else item
            out.extend(_flat(f"{prefix}.{name}" if name else prefix, rest))
        return out
    return [(prefix, value)]


def _show(value: Any, lang: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, timedelta):
        return human_duration(value, lang)
    if isinstance(value, float):
        return f"{value:.0%}" if 0.0 <= value <= 1.0 else f"{value:.2f}"
    if isinstance(value, dict) and "distribution" in value:
        spread = " · ".join(f"{k}: {v}" for k, v in value["distribution"].items())
        mean = "-" if value["mean"] is None else f"{value['mean']:.2f}"
        return f"{value['count']} (mean {mean}; {spread})"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v, lang)}" for k, v in value.items()) or "-"
    return str(value)


def _operators_table(operators: list[dict[str, Any]], lang: str) -> None:
    print("operators:" if operators else f"{'operators':<24} -")
    for o in operators:
        print(
            f"  {o['operator']:<20} taken {o['taken']}, first response "
            f"{_show(o['first_response_median'], lang)}, resolved {o['resolved']}, "
            f"mean rating {'-' if o['rating_mean'] is None else format(o['rating_mean'], '.2f')}"
            f" of {o['ratings']}"
        )
