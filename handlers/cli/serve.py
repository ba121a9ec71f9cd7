"""`helpbot serve`: run the help center and every configured channel in the one web application
until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from typing import TYPE_CHECKING

from bot import logs
from handlers.cli._runner import run, settings_or_exit

if TYPE_CHECKING:
    from bot.knowledge_sync import KnowledgeReloader

NO_PUBLIC_URL = (
    "KB_PUBLIC_URL is not set, so answers from entries without a helpdesk article carry no "
    "link: set it to the address people reach this server at"
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve", help="run the help center and the configured channels (Telegram, Bitrix24)"
    )
    serve.add_argument("--no-migrate", action="store_true", help="do not upgrade the database")
    serve.set_defaults(func=lambda a: run(_serve(a)))


async def _serve(args: argparse.Namespace) -> int:
    from bot.app import build  # the database, aiohttp: not for `helpbot --help`
    from handlers.kb_reload import RELOADER
    from handlers.web import NOTHING_CONFIGURED  # aiogram loads slowly

    settings = settings_or_exit()
    verbose = getattr(args, "verbose", False)
    logs.configure("DEBUG" if verbose else settings.log.level, settings.log.format)
    async with build(settings, schema="check" if args.no_migrate else "upgrade") as app:
        _, channels = await app.web()  # the notes come before the channels start
        if not channels:
            print(f"note: {NOTHING_CONFIGURED}", file=sys.stderr)
        if not settings.kb.public_url:
            print(f"note: {NO_PUBLIC_URL}", file=sys.stderr)
        async with app.serving() as served:
            _freeze_start_up()
            parts = ", ".join(["help center at /kb/", *served.channels])
            print(
                f"helpbot serving {parts} on {settings.web.host}:{settings.web.port}"
                " (Ctrl-C stops)",
                file=sys.stderr,
            )
            await _until_stopped(served.web[RELOADER])
    return 0


def _freeze_start_up() -> None:
    """Move what start-up made (the knowledge base's index, aiogram's and SQLAlchemy's models:
    ~100,000 objects that live as long as the process) out of the collector's sight: a full
    collection then walks only what messages make (a full one took ~0.2 s of CPU under load)."""
    gc.collect()
    gc.freeze()


async def _until_stopped(reloader: KnowledgeReloader) -> None:
    """Wait for SIGTERM or Ctrl-C, so that the app's workers stop cleanly; SIGHUP reloads the
    knowledge base (on every replica)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on some platforms
            loop.add_signal_handler(sig, stop.set)
    if hasattr(signal, "SIGHUP"):
        loop.add_signal_handler(signal.SIGHUP, reloader.ask, "SIGHUP")
    try:
        await stop.wait()
    finally:
        if hasattr(signal, "SIGHUP"):
            loop.remove_signal_handler(signal.SIGHUP)
