"""`helpbot doctor`: one line per check of what a deployment needs — the settings that are set,
the data home, the database, Redis, each configured channel and the knowledge base; exit 1 when
any check fails. The first step when something does not work."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

from dotenv import dotenv_values
from pydantic import SecretStr

from bot import dburl
from bot import home as data_home
from bot.settings import SettingsError
from handlers.cli.doctor_channels import check_bitrix24, check_telegram
from handlers.cli.doctor_report import Check, Report, fail, ok, warn
from handlers.cli.guard import known_secrets
from handlers.cli.preflight import knowledge_dir_problem
from handlers.setting_names import setting_names, setting_prefixes, setting_value
from handlers.settings import Settings, load_settings
from knowledge.loader import load_corpus

__all__ = ["register", "run_checks"]

# Names of ours that are not settings, and common variables of other software with our prefixes.
_NOT_SETTINGS = frozenset({"HELPBOT_CONFIG"})
_NOISY_PREFIXES = ("DATABASE_", "REDIS_", "WEB_", "LOG_")  # set by hosts and container links
_LEGACY_DATABASE = Path("var/helpbot.db")  # where the database was before HELPBOT_HOME
CONNECT_SECONDS = 10.0
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # HOURS_DAYS as people write it


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = sub.add_parser(
        "doctor", help="check settings, data home, database, Redis, channels and knowledge base"
    )
    doctor.set_defaults(func=lambda a: asyncio.run(run_checks(Report(sys.stdout))))


async def run_checks(report: Report) -> int:
    """Print every check as it is made; 1 when any failed, else 0."""
    config = data_home.config_file()
    report.add(ok("config file", str(config) if config else "none (environment only)"))
    try:
        settings = load_settings()
    except SettingsError as exc:
        report.add(fail("settings", str(exc)))
        return report.exit_code()
    report.secrets = known_secrets(settings)
    for check in _settings_set(settings, config):
        report.add(check)
    report.add(_data_home(settings))
    async for check in _database(settings):
        report.add(check)
    if settings.redis.url is not None:
        report.add(await _redis(settings.redis.url.get_secret_value()))
    channels = [
        (settings.telegram.enabled, check_telegram),
        (settings.bitrix.enabled, check_bitrix24),
    ]
    if not any(enabled for enabled, _ in channels):
        report.add(warn("channels", "none configured: `helpbot serve` needs Telegram or Bitrix24"))
    for enabled, check_channel in channels:
        if enabled:
            for check in await check_channel(settings):
                report.add(check)
    for check in await asyncio.to_thread(_knowledge, settings):
        report.add(check)
    return report.exit_code()


def _settings_set(settings: Settings, config: Path | None) -> Iterable[Check]:
    """One line for each setting given in the environment or the file, secrets masked."""
    names = setting_names()
    from_file = {k.upper(): v for k, v in dotenv_values(config).items()} if config else {}
    given = {name.upper() for name in os.environ} | set(from_file)
    for name in sorted(given & names.keys()):
        yield ok("setting", f"{name}={_shown(name, setting_value(settings, names[name]))}")
    # Only names with our prefixes: the file may also hold compose.yaml's (POSTGRES_PASSWORD).
    file_prefixes = ("HELPBOT_", *setting_prefixes())
    env_prefixes = tuple(p for p in file_prefixes if p not in _NOISY_PREFIXES)
    unknown = {n for n in from_file if n.startswith(file_prefixes)}
    unknown |= {n for n in given if n.startswith(env_prefixes)}
    for name in sorted(unknown - names.keys() - _NOT_SETTINGS):
        yield warn("setting", f"{name} is not a helpbot setting (misspelt?): ignored")


def _shown(name: str, value: object) -> str:
    """The value as the settings read it; the report masks any secret left in it."""
    if isinstance(value, SecretStr):
        return "***"  # tokens, secrets, URLs with credentials: only whether they are set
    if name == "DATABASE_URL":
        return dburl.mask(str(value))
    if name.endswith("WEBHOOK_URL"):  # its path may carry a secret, as some set-ups do
        scheme, _, rest = str(value).partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}/***"
    if name == "HOURS_DAYS" and isinstance(value, frozenset):
        return ",".join(_DAYS[day] for day in sorted(value))
    return str(value)


def _data_home(settings: Settings) -> Check:
    state = data_home.inspect_home(settings.home)
    if state.problem:
        return fail("data home", f"{state.path}: {state.problem}")
    note = "exists, writable" if state.exists else "not created yet: made on first use"
    return ok("data home", f"{state.path} ({note})")


async def _database(settings: Settings) -> AsyncIterator[Check]:
    url = settings.database.url
    where = dburl.mask(url) if url else f"{settings.database.sqlite_path} (SQLite)"
    if not url:
        legacy = Path.cwd() / _LEGACY_DATABASE
        if legacy.is_file() and legacy != settings.database.sqlite_path:
            yield warn(
                "database",
                f"{legacy} is an older database in this folder, not the one in use; to keep "
                f"it: mv {legacy} {settings.database.sqlite_path}",
            )
        if not settings.database.sqlite_path.is_file():
            made_by = "`helpbot chat`, `serve` or `db upgrade` make and migrate it"
            yield warn("database", f"{where}: not created yet: {made_by}")
            return
        url = f"sqlite:///{settings.database.sqlite_path}"
    yield await _schema(url, where)


async def _schema(url: str, where: str) -> Check:
    from bot.storage import migrate  # SQLAlchemy and Alembic load slowly: only here
    from bot.storage.db import create_engine

    try:
        # Not the app's database (bot.app.build): the doctor probes the URL it was given, with a
        # time-out of its own, and reports instead of failing; it never migrates or keeps it.
        engine = create_engine(url)
    except dburl.DatabaseUrlError as exc:
        return fail("database", str(exc))
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            current = await migrate.current(engine)
    except TimeoutError:
        return fail("database", f"{where}: no answer in {CONNECT_SECONDS:.0f} s")
    except Exception as exc:  # driver errors differ per dialect; all mean "cannot reach it"
        return fail("database", f"{where}: unreachable: {type(exc).__name__}: {exc}")
    finally:
        await engine.dispose()
    head = migrate.head()
    if current != head:
        return fail(
            "database",
            f"{where}: at revision {current or 'none (empty)'}, the code needs {head}: "
            "run `helpbot db upgrade`",
        )
    return ok("database", f"{where}: reachable, at revision {head} (the newest)")


async def _redis(url: str) -> Check:
    import redis.asyncio as redis

    from bot.health import redis_problem

    client = redis.from_url(url)
    try:
        problem = await redis_problem(client, within=5.0)
    finally:
        await client.aclose()
    where = dburl.mask(url)
    return fail("redis", f"{where}: {problem}") if problem else ok("redis", f"{where}: answers")


def _knowledge(settings: Settings) -> list[Check]:
    folder = settings.knowledge_dir
    if folder is not None and (problem := knowledge_dir_problem(folder)):
        return [fail("knowledge", f"KNOWLEDGE_DIR={folder}: {problem}")]
    with _quiet("knowledge.loader"):  # the skipped files are this check's own lines
        corpus = load_corpus(folder)
    own = f", {folder}" if folder is not None else ""
    checks = [ok("knowledge", f"{len(corpus.entries)} entries from the shipped articles{own}")]
    checks += [warn("knowledge", f"skipped {error}") for error in corpus.errors]
    return checks


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
