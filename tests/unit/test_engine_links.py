"""The engine's deep-link path: an Incoming naming an entry answers that entry directly."""

from __future__ import annotations

import pytest
from engine_fixtures import ENTRIES, NONSENSE, Rig, buttons, rig, text_of, to_person
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.texts import PHRASES


@pytest.fixture
def db_url(sqlite_db_url: str) -> str:
    return sqlite_db_url


@pytest.fixture
def bot(sessions: async_sessionmaker[AsyncSession], clock: object) -> Rig:
    return rig(sessions, clock)  # type: ignore[arg-type]


async def test_a_link_to_an_entry_answers_it_with_feedback_buttons(bot: Rig) -> None:
    out = await bot.say("/start a_x", entry_id=ENTRIES[3].id)
    assert to_person(out)[0].reply.title == ENTRIES[3].title
    assert PHRASES["btn_helped"]["ru"] in buttons(out)


async def test_a_link_to_an_unknown_entry_is_a_stale_reply(bot: Rig) -> None:
    out = await bot.say("/start a_gone", entry_id="no-such-entry")
    assert PHRASES["stale"]["ru"] in text_of(out)


async def test_a_link_while_waiting_for_an_operator_goes_to_the_ticket(bot: Rig) -> None:
    await bot.say(NONSENSE)
    await bot.say("оператор")
    out = await bot.say("/start a_x", entry_id=ENTRIES[3].id)
    assert all(o.reply.title != ENTRIES[3].title for o in to_person(out))
