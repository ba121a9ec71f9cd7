"""The help center's table of contents: entries grouped as their documents group them.

A shipped document (the guide, the CRM FAQ, …) is one group titled with the document's title,
its chapters in document order and each chapter's sections under it. A shipped collection of
articles (the helpdesk) is one group whose chapters are the articles' categories. A company's own
articles (any source that is not shipped) form the last group, one chapter per folder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.texts import phrase
from knowledge.model import Entry
from knowledge.slug import slugify

COMPANY = "company"  # the anchor and key of the company's articles


@dataclass(frozen=True, slots=True)
class Item:
    """An entry listed under a chapter; ``depth`` 0 directly under it, 1 a level deeper, …"""

    entry: Entry
    depth: int = 0


@dataclass(slots=True)
class Chapter:
    """A chapter: its title ("" for articles outside any category), its own entry if the
    document has one for it, and the entries under it."""

    title: str
    entry: Entry | None = None
    items: list[Item] = field(default_factory=list)


@dataclass(slots=True)
class Group:
    """One document or collection: ``entry`` is the document's own opening section, if any."""

    key: str
    anchor: str
    title: str
    entry: Entry | None = None
    chapters: list[Chapter] = field(default_factory=list)
    size: int = 0
    root: tuple[str, ...] = ()  # the breadcrumb levels the group's title already stands for


@dataclass(frozen=True, slots=True)
class Crumb:
    """One step of an entry's trail; ``entry_id`` when that step is an entry of its own."""

    title: str
    entry_id: str = ""
    anchor: str = ""  # a group on the contents page


class Contents:
    """The groups of a knowledge base's entries, with each entry's trail and sub-entries."""

    def __init__(self, entries: Sequence[Entry], shipped: frozenset[str], lang: str) -> None:
        by_key: dict[str, list[Entry]] = {}
        for entry in entries:
            by_key.setdefault(entry.source if entry.source in shipped else COMPANY, []).append(
                entry
            )
        groups = [_group(key, members, lang) for key, members in by_key.items()]
        # Article collections first, then documents in corpus order, the company's own last.
        groups.sort(key=lambda g: 2 if g.key == COMPANY else 0 if not g.root else 1)
        self.groups: tuple[Group, ...] = tuple(groups)
        self._group_of = {e.id: g for g in groups for e in by_key[g.key]}
        self._nodes = {(e.source, (*e.breadcrumb, e.title)): e for e in entries}
        self._children: dict[tuple[str, tuple[str, ...]], list[Entry]] = {}
        for entry in entries:
            self._children.setdefault((entry.source, entry.breadcrumb), []).append(entry)

    def trail(self, entry: Entry) -> tuple[Crumb, ...]:
        """The group, then every heading above the entry, linked where it is an entry itself."""
        group = self._group_of[entry.id]
        crumbs = [Crumb(group.title, group.entry.id if group.entry else "", group.anchor)]
        start = len(group.root) if entry.breadcrumb[: len(group.root)] == group.root else 0
        for depth in range(start, len(entry.breadcrumb)):
            node = self._nodes.get((entry.source, entry.breadcrumb[: depth + 1]))
            crumbs.append(Crumb(entry.breadcrumb[depth], node.id if node else ""))
        return tuple(crumbs)

    def children(self, entry: Entry) -> tuple[Entry, ...]:
        """The sections directly under an entry (a chapter's sections)."""
        return tuple(self._children.get((entry.source, (*entry.breadcrumb, entry.title)), ()))


def _group(key: str, entries: list[Entry], lang: str) -> Group:
    if key == COMPANY:
        group = Group(key, COMPANY, phrase("hc_group_company", lang))
    elif all(e.kind == "article" for e in entries):
        group = Group(key, slugify(key.rsplit(".", 1)[0]), phrase("hc_group_articles", lang))
    else:
        title = _document_title(entries) or key
        group = Group(key, slugify(key.rsplit(".", 1)[0]), title, root=(title,))
    chapters: dict[str, Chapter] = {}  # the latest chapter of each title
    for entry in entries:
        group.size += 1
        path = (*entry.breadcrumb, entry.title)
        if group.root and path == group.root:
            group.entry = entry  # the document's opening section
            continue
        if group.root:
            _place_section(group, chapters, entry)
        else:
            # The help desk's own trail («Регистрация и вход / Вход в Битрикс24»; the compilation's
            # category only for a page without one), or a company's folders.
            title = " / ".join(entry.breadcrumb)
            chapter = chapters.get(title)
            if chapter is None:
                chapter = chapters[title] = Chapter(title)
                group.chapters.append(chapter)
            chapter.items.append(Item(entry))
    return group


def _place_section(group: Group, chapters: dict[str, Chapter], entry: Entry) -> None:
    """A document's section: a chapter of its own at the top level, else under its chapter."""
    inner = entry.breadcrumb[len(group.root) :] if entry.breadcrumb[:1] == group.root else ()
    if not inner:
        chapter = Chapter(entry.title, entry)
        chapters[entry.title] = chapter  # a later chapter of the same title starts afresh
        group.chapters.append(chapter)
        return
    found = chapters.get(inner[0])
    if found is None:
        found = chapters[inner[0]] = Chapter(inner[0])
        group.chapters.append(found)
    found.items.append(Item(entry, len(inner) - 1))


def _document_title(entries: list[Entry]) -> str:
    """The title every section's breadcrumb starts with (the document's own)."""
    tops = Counter(e.breadcrumb[0] for e in entries if e.breadcrumb)
    return tops.most_common(1)[0][0] if tops else ""
