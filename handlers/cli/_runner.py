"""Shared plumbing for terminal commands: run a coroutine, map our errors to a message and code."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from bot.errors import StorageError, TicketError
from bot.settings import Settings, SettingsError, load_settings
from knowledge.errors import HelpbotError

log = logging.getLogger(__name__)


def run(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main``; a known error becomes one line on stderr and a non-zero exit code."""
    try:
        return asyncio.run(main)
    except TicketError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (SettingsError, StorageError, HelpbotError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
