"""No Telegram filter or handler runs in a thread: aiogram runs a plain function (a magic filter
given as it is among them) through ``asyncio.to_thread``, a hop per filter per update."""

from __future__ import annotations

from aiogram import Dispatcher, F
from aiogram.types import Chat, Message

from handlers.telegram.filters import Now
from handlers.telegram.routers import setup_routers


def test_every_filter_and_handler_of_the_routers_is_a_coroutine() -> None:
    dp = Dispatcher(disable_fsm=True)
    setup_routers(dp)
    plain = []
    for router in dp.chain_tail:
        for kind, observer in router.observers.items():
            checks = [("router", f) for f in observer._handler.filters or []]
            for handler in observer.handlers:
                checks += [(handler.callback.__name__, f) for f in handler.filters or []]
                checks.append((handler.callback.__name__, handler))
            plain += [(router.name, kind, name) for name, c in checks if not c.awaitable]
    assert plain == []


async def test_now_resolves_a_magic_filter_as_aiogram_does() -> None:
    chat = Chat(id=1, type="private")
    text = Message(message_id=1, date=0, chat=chat, text="Как восстановить пароль")
    photo = Message(message_id=2, date=0, chat=chat, caption="снимок")
    assert await Now(F.text)(text) == "Как восстановить пароль"
    assert not await Now(F.text)(photo)
    assert await Now(F.chat.type == "private")(photo)
    assert not await Now(~F.text.startswith("/"))(
        Message(message_id=3, date=0, chat=chat, text="/kb")
    )
