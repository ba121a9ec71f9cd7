"""Every Telegram router, assembled in one place: operators' group first, then private chats."""

from aiogram import Dispatcher

from handlers.telegram import operators, person


def setup_routers(dp: Dispatcher) -> None:
    """Every Telegram router, in the order they are tried: operators' group, then private chats."""
    dp.include_routers(operators.create_router(), person.create_router())


__all__ = ["setup_routers"]
