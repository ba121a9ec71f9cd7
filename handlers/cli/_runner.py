"""Shared plumbing for terminal commands: run a coroutine; errors go to `bot.__main__`'s guard
(handlers/cli/guard.py), which prints one line and picks the exit code."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from handlers.settings import Settings, load_settings


def run(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main``; a known error reaches the guard, which makes it one line and an exit code."""
    return asyncio.run(main)


def settings_or_exit() -> Settings:
    """The settings; a :class:`~bot.settings.SettingsError` becomes one line and exit code 2."""
    return load_settings()
