"""Every answer carries a link (issue 15): the entry's helpdesk article when it has one, else its
help-center page under KB_PUBLIC_URL, in every channel's rendering and through the engine."""

from __future__ import annotations

import io
import json

import pytest
from engine_fixtures import DEAL, ENTRIES, TASK, Rig, rig, to_person
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.deeplinks import entry_link, help_center_url
from bot.replies import answer_reply, render_plain
from bot.settings import KbSettings, SettingsError
from handlers.bitrix24.render import render as bitrix_render
from handlers.cli.ask import _answer_one
from handlers.cli.ask import render_plain as terminal_render
from handlers.settings import Settings, load_settings
from handlers.telegram.render import render as telegram_render
from knowledge.base import KnowledgeBase
from knowledge.model import Answer, Entry, Link

PUBLIC = "https://help.example.com"
WITH_URL = Entry(id="hd--deal", title="Сделки", source="hd.md", url="https://helpdesk.example/1/")
NO_URL = Entry(id="guide--tasks", title="Задачи", source="guide.txt", kind="section")


def test_the_helpdesk_article_wins_over_the_help_center() -> None:
    assert entry_link(WITH_URL, PUBLIC) == Link("Сделки", "https://helpdesk.example/1/")
    assert entry_link(WITH_URL, "") == Link("Сделки", "https://helpdesk.example/1/")


def test_an_entry_without_an_article_links_to_its_help_center_page() -> None:
    assert entry_link(NO_URL, PUBLIC) == Link("Задачи", f"{PUBLIC}/kb/guide--tasks")
    assert entry_link(NO_URL, PUBLIC + "/") == Link("Задачи", f"{PUBLIC}/kb/guide--tasks")


def test_without_a_public_address_such_an_entry_has_no_link() -> None:
    assert entry_link(NO_URL, "") is None


def test_the_id_is_quoted_into_one_path_segment() -> None:
    assert help_center_url(PUBLIC + "/help", "a b/../c?") == f"{PUBLIC}/help/kb/a%20b%2F..%2Fc%3F"


def test_the_answer_reply_carries_the_chosen_link_once_then_others() -> None:
    extra = Link("Ещё", "https://x.example/2")
    own = Answer(WITH_URL, ("Текст",), links=(Link("Сделки", WITH_URL.url), extra))
    assert answer_reply(own, "ru", public_url=PUBLIC).links == (
        Link("Сделки", WITH_URL.url),
        extra,
    )
    page = answer_reply(Answer(NO_URL, ("Текст",)), "ru", public_url=PUBLIC)
    assert page.links == (Link("Задачи", f"{PUBLIC}/kb/guide--tasks"),)
    assert answer_reply(Answer(NO_URL, ("Текст",)), "ru").links == ()


def test_every_channel_renders_the_help_center_link() -> None:
    reply = answer_reply(Answer(NO_URL, ("Текст",)), "ru", 5, public_url=PUBLIC)
    url = f"{PUBLIC}/kb/guide--tasks"
    assert f'<a href="{url}">Задачи</a>' in "".join(telegram_render(reply))
    assert f"[url={url}]Задачи[/url]" in bitrix_render(reply)["message"]
    assert f"Задачи: {url}" in render_plain(reply)  # `helpbot chat` and stored transcripts
    assert f"Задачи: {url}" in terminal_render(reply)  # `helpbot ask`


@pytest.fixture
def db_url(sqlite_db_url: str) -> str:
    return sqlite_db_url


async def test_the_engine_links_every_answer(
    sessions: async_sessionmaker[AsyncSession], clock: object
) -> None:
    bot: Rig = rig(sessions, clock, kb=KbSettings(public_url=PUBLIC))  # type: ignore[arg-type]
    [deal] = to_person(await bot.say(DEAL, person="1"))
    assert [x.url for x in deal.reply.links] == [ENTRIES[0].url]
    [task] = to_person(await bot.say(TASK, person="2"))
    assert [x.url for x in task.reply.links] == [f"{PUBLIC}/kb/{ENTRIES[3].id}"]


def test_ask_prints_the_link_and_keeps_the_entry_url_in_json() -> None:
    kb = KnowledgeBase(ENTRIES)
    out = io.StringIO()
    _answer_one(kb, TASK, False, out, PUBLIC)
    assert f"{PUBLIC}/kb/{ENTRIES[3].id}" in out.getvalue()
    out = io.StringIO()
    _answer_one(kb, TASK, True, out, PUBLIC)
    line = json.loads(out.getvalue())
    assert line["matches"][0]["url"] == "" and f"{PUBLIC}/kb/" in line["text"]


def test_kb_public_url_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_PUBLIC_URL", " https://help.example.com/support/ ")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.kb.public_url == "https://help.example.com/support"


@pytest.mark.parametrize(
    "value", ["help.example.com", "javascript:alert(1)", "https://h.example/?q=1", "https://"]
)
def test_a_bad_kb_public_url_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("KB_PUBLIC_URL", value)
    with pytest.raises(SettingsError, match="KB_PUBLIC_URL"):
        load_settings(_env_file=None)
