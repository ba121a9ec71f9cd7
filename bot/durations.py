"""Durations as people read them: «27 с», «4 мин 10 с», «2 ч 5 мин», «3 дн 4 ч»."""

from __future__ import annotations

from datetime import timedelta

from bot.texts import phrase

_UNITS = (("dur_d", 86_400), ("dur_h", 3_600), ("dur_min", 60), ("dur_s", 1))


def human_duration(value: timedelta, lang: str) -> str:
    """The largest unit that is not zero and the one below it, in whole numbers, a zero part
    left out (under a second is «0 с»)."""
    left = max(0, int(value.total_seconds()))
    counts = []
    for key, size in _UNITS:
        count, left = divmod(left, size)
        counts.append((key, count))
    first = next((i for i, (_, count) in enumerate(counts) if count), len(counts) - 1)
    parts = [phrase(key, lang, n=count) for key, count in counts[first : first + 2] if count]
    return " ".join(parts) or phrase("dur_s", lang, n=0)
