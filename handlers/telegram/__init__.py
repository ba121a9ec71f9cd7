"""The Telegram channel: people ask in private chats, operators answer in forum topics."""

from aiogram import Dispatcher

from handlers.telegram import operators, person


def setup_routers(dp: Dispatcher) -> None:
    """Every Telegram router, in the order they are tried: operators' group, then private chats."""
    dp.include_routers(operators.create_router(), person.create_router())


__all__ = ["setup_routers"]
