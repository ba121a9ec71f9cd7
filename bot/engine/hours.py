"""Operators' working hours: whether they are in now, and when they are back, in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.settings import HoursSettings
from bot.texts import WEEKDAYS, phrase


class WorkingHours:
    """Days and a daily window in a time zone; an end before the start spans midnight."""

    def __init__(self, settings: HoursSettings) -> None:
        self._zone = ZoneInfo(settings.timezone)
        self._days = settings.days
        self._start = settings.start
        self._end = settings.end

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self._zone)
        moment = local.time().replace(tzinfo=None)
        if self._start == self._end:
            return local.weekday() in self._days
        if self._start < self._end:
            return local.weekday() in self._days and self._start <= moment < self._end
        if moment >= self._start:
            return local.weekday() in self._days
        return (local.weekday() - 1) % 7 in self._days and moment < self._end

    def next_open(self, now: datetime) -> datetime | None:
        """The next start of a working window after ``now`` (aware UTC), ``None`` with no days."""
        if not self._days:
            return None
        local = now.astimezone(self._zone)
        for ahead in range(8):
            day = (local + timedelta(days=ahead)).date()
            if day.weekday() not in self._days:
                continue
            start = datetime.combine(day, self._start, tzinfo=self._zone)
            if start > local:
                return start.astimezone(UTC)
        return None

    def describe(self, lang: str) -> str:
        """ "пн–пт 09:00–18:00 (Europe/Chisinau)"."""
        names = WEEKDAYS.get(lang, WEEKDAYS["ru"])
        days = sorted(self._days)
        runs: list[str] = []
        start = prev = days[0] if days else -1
        for day in [*days[1:], -9]:
            if day != prev + 1:
                runs.append(names[start] if start == prev else f"{names[start]}–{names[prev]}")
                start = day
            prev = day
        window = f"{self._start:%H:%M}–{self._end:%H:%M}"
        return f"{', '.join(r for r in runs if days)} {window} ({self._zone.key})".strip()

    def when_back(self, now: datetime, lang: str) -> str:
        """ "завтра в 09:00", "пн в 09:00" — the next opening in the operators' time zone."""
        back = self.next_open(now)
        if back is None:
            return "—"
        local_now, local_back = now.astimezone(self._zone), back.astimezone(self._zone)
        at = f"{local_back:%H:%M}"
        days = (local_back.date() - local_now.date()).days
        if days == 0:
            return phrase("today", lang, time=at)
        if days == 1:
            return phrase("tomorrow", lang, time=at)
        day = WEEKDAYS.get(lang, WEEKDAYS["ru"])[local_back.weekday()]
        return phrase("weekday_at", lang, day=day, time=at)
