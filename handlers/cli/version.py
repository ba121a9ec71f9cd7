"""`helpbot --version` (and with -v: where the data, the database, the articles and the
configuration file are), for bug reports and for "which database is this?"."""

from __future__ import annotations

import platform
from importlib import metadata

from bot import dburl
from bot import home as data_home
from bot.settings import SettingsError
from handlers.settings import Settings, load_settings

__all__ = ["describe", "show_version", "version"]

DISTRIBUTION = "b24-helpbot"


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def show_version(verbose: bool) -> int:
    print(f"helpbot {version()} (Python {platform.python_version()})")
    if not verbose:
        return 0
    config = data_home.config_file()
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"config file:   {config or 'none (environment only)'}")
        print(f"settings:      {exc}")
        return 2
    for name, value in describe(settings):
        print(f"{name + ':':<15}{value}")
    return 0


def describe(settings: Settings) -> list[tuple[str, str]]:
    """Where this configuration keeps things, with passwords masked."""
    state = data_home.inspect_home(settings.home)
    home_note = state.problem or ("exists, writable" if state.exists else "not created yet")
    folder = settings.knowledge_dir
    if folder is None:
        knowledge = "none (the shipped articles only)"
    else:
        knowledge = f"{folder}{'' if folder.is_dir() else ' (not found)'}"
    config = data_home.config_file()
    return [
        ("data home", f"{settings.home} ({home_note})"),
        ("database", _database(settings)),
        ("knowledge dir", knowledge),
        ("index cache", str(settings.knowledge_cache_dir or "off")),
        ("config file", str(config) if config else "none (environment only)"),
    ]


def _database(settings: Settings) -> str:
    if settings.database.url:
        return dburl.mask(settings.database.url)
    return f"{settings.database.sqlite_path} (SQLite)"
