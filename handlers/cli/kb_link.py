"""`helpbot kb link ID`: the Telegram deep link (t.me/<bot>?start=a_…) that opens one entry."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.settings import SettingsError
from handlers.settings import Settings, load_settings
from handlers.telegram.startlinks import start_link
from knowledge.loader import load_corpus


def add_parser(kb_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    link = kb_sub.add_parser("link", help="the Telegram deep link that opens one entry")
    link.add_argument("entry_id")
    link.add_argument("--bot", help="the bot's @username (default: asked with TELEGRAM_BOT_TOKEN)")
    link.add_argument("--knowledge-dir", type=Path)
    link.set_defaults(func=_run_link)


def _run_link(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    entries = load_corpus(args.knowledge_dir or settings.knowledge_dir).entries
    if not any(entry.id == args.entry_id for entry in entries):
        print(f"no entry with id {args.entry_id!r}; `helpbot kb list` shows them", file=sys.stderr)
        return 1
    username = args.bot or _ask_username(settings)
    if not username:
        print("error: pass --bot USERNAME or set TELEGRAM_BOT_TOKEN", file=sys.stderr)
        return 2
    print(start_link(username, args.entry_id))
    return 0


def _ask_username(settings: Settings) -> str:
    """The bot's username from getMe, when a token is configured."""
    token = settings.telegram.bot_token
    if token is None:
        return ""
    from aiogram import Bot  # aiogram loads slowly: only when needed
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    async def get_me() -> str:
        api = TelegramAPIServer.from_base(settings.telegram.api_url)
        async with Bot(token.get_secret_value(), session=AiohttpSession(api=api)) as bot:
            return (await bot.me()).username or ""

    return asyncio.run(get_me())
