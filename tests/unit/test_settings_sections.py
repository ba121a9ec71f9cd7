"""Settings sections for the engine, storage and queue: env names, parsing, readable errors."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

import pytest

from bot.settings import SettingsError
from handlers.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_sections_read_single_underscore_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("HOURS_DAYS", "1-3,sun")
    monkeypatch.setenv("HOURS_START", "08:30")
    monkeypatch.setenv("QUEUE_REFLAG_MINUTES", "5")
    monkeypatch.setenv("CONVERSATION_DUPLICATE_MINUTES", "3")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database.url == "postgresql+asyncpg://u@h/db"
    assert settings.hours.days == {0, 1, 2, 6} and settings.hours.start == time(8, 30)
    assert settings.queue.reflag_minutes == 5 and settings.conversation.duplicate_minutes == 3


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("HOURS_TIMEZONE", "Mars/Olympus", "HOURS_TIMEZONE"),
        ("HOURS_DAYS", "funday", "HOURS_DAYS"),
        ("CONVERSATION_LANGUAGE", "de", "CONVERSATION_LANGUAGE"),
        ("QUEUE_REFLAG_MINUTES", "0", "QUEUE_REFLAG_MINUTES"),
    ],
)
def test_bad_values_fail_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=problem):
        load_settings(_env_file=None)


def test_every_section_field_is_in_env_example() -> None:
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    for section in ("database", "hours", "conversation", "queue"):
        model = type(getattr(Settings(_env_file=None), section))  # type: ignore[call-arg]
        for field in model.model_fields:
            assert f"{section}_{field}".upper() in documented
