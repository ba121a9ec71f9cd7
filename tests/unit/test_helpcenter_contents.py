"""The help center's table of contents files a help-desk page under the help desk's own trail
(its breadcrumb, issue 11 round 16b), not under the compilation's topic (``Entry.category``)."""

from __future__ import annotations

from handlers.helpcenter.contents import Contents
from knowledge.loader import load_corpus, shipped_sources


def test_a_help_desk_page_is_listed_under_its_trail_not_the_compilations_topic() -> None:
    contents = Contents(load_corpus().entries, shipped_sources(), "ru")
    helpdesk = next(g for g in contents.groups if g.key == "helpdesk_articles.md")
    chapter = next(
        c
        for c in helpdesk.chapters
        if c.title == "Регистрация и вход / Управление аккаунтом в Битрикс24"
    )
    forgot = next(i.entry for i in chapter.items if i.entry.title.startswith("Что делать, если"))
    # The compilation had sorted the lost-password page under «Права доступа».
    assert forgot.category == "Права доступа"
    assert [c.title for c in helpdesk.chapters if forgot in [i.entry for i in c.items]] == [
        chapter.title
    ]
