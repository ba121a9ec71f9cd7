"""All configuration, read once from the environment and `.env`: one section per concern."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_LANGS = ("ru", "en", "ro")
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DatabaseSettings(BaseModel):
    """DATABASE_URL (``postgresql+asyncpg://…``) wins, else a SQLite file: DATABASE_SQLITE_PATH."""

    url: str = ""
    sqlite_path: Path = Path("var/helpbot.db")
    echo: bool = False


class HoursSettings(BaseModel):
    """Operators' hours: HOURS_TIMEZONE, HOURS_DAYS ("mon-fri", "1-5,7"), HOURS_START, HOURS_END."""

    timezone: str = "Europe/Chisinau"
    days: Annotated[frozenset[int], NoDecode] = frozenset(
        {0, 1, 2, 3, 4}
    )  # Monday is 0, as in datetime.weekday()
    start: time = time(9, 0)
    end: time = time(18, 0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("days", mode="before")
    @classmethod
    def _parse_days(cls, value: object) -> object:
        return _parse_days(value) if isinstance(value, str) else value


class ConversationSettings(BaseModel):
    """CONVERSATION_LANGUAGE (ru/en/ro), CONVERSATION_DUPLICATE_MINUTES, CONVERSATION_MAX_TEXT."""

    language: str = "ru"
    duplicate_minutes: int = Field(default=10, ge=0)
    max_text: int = Field(default=4000, ge=100)  # characters stored per message; the rest is cut

    @field_validator("language")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value not in _LANGS:
            raise ValueError(f"must be one of {', '.join(_LANGS)}")
        return value


class QueueSettings(BaseModel):
    """QUEUE_REFLAG_MINUTES: a ticket nobody took is flagged to operators again after this."""

    reflag_minutes: int = Field(default=15, ge=1)


class Settings(BaseSettings):
    """The whole configuration; build it with :func:`load_settings` or ``Settings(_env_file=None)``.

    A section's fields are read from ``<SECTION>_<FIELD>`` (``DATABASE_URL``, ``HOURS_DAYS``).
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
    )

    knowledge_dir: Path | None = None
    # Keys of the corpus words between runs (a build is several times faster); empty: none.
    knowledge_cache_dir: Path | None = Path("var/cache")
    database: DatabaseSettings = DatabaseSettings()
    hours: HoursSettings = HoursSettings()
    conversation: ConversationSettings = ConversationSettings()
    queue: QueueSettings = QueueSettings()

    @field_validator("knowledge_dir", "knowledge_cache_dir", mode="before")
    @classmethod
    def _blank_dir_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value


class SettingsError(Exception):
    """The configuration cannot be used; the message says which setting and why."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's validation report into one readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from None


def _parse_days(value: str) -> frozenset[int]:
    """ "mon-fri,sun" or "1-5,7" (ISO numbers, Monday is 1) to weekday numbers (Monday is 0)."""
    days: set[int] = set()
    for part in filter(None, (p.strip().lower() for p in value.split(","))):
        bounds = [_day_number(b) for b in re.split(r"\s*-\s*", part)]
        if len(bounds) == 1:
            days.add(bounds[0])
        elif len(bounds) == 2 and bounds[0] <= bounds[1]:
            days.update(range(bounds[0], bounds[1] + 1))
        else:
            raise ValueError(f"bad day range {part!r}")
    return frozenset(days)


def _day_number(token: str) -> int:
    if token.isdigit() and 1 <= int(token) <= 7:
        return int(token) - 1
    if token[:3] in _DAY_NAMES:
        return _DAY_NAMES.index(token[:3])
    raise ValueError(f"unknown day {token!r}")
