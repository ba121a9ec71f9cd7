"""Rendered help-center pages: Jinja2 templates, and an in-process cache of finished pages, each
with its ETag, so that a page is rendered once and a repeat visit costs a dictionary lookup."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from functools import partial
from importlib import resources
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.texts import phrase
from handlers.helpcenter.contents import Contents
from handlers.helpcenter.pages import MAX_QUERY, clean_query, entry_page, search_page
from knowledge.base import KnowledgeBase
from knowledge.holder import KnowledgeHolder, KnowledgeVersion
from knowledge.loader import shipped_sources

CACHED_PAGES = 1024  # finished pages kept: every entry of a large base, and the recent searches
MAX_DEPTH = 8  # an error page is cached per path depth up to this


@dataclass(frozen=True, slots=True)
class Page:
    """A finished response body, its status and its strong ETag."""

    body: bytes
    status: int = 200
    content_type: str = "text/html"

    @property
    def etag(self) -> str:
        return f'"{hashlib.sha256(self.body).hexdigest()[:32]}"'


class PageCache:
    """The most recently used pages by key, at most ``size`` of them."""

    def __init__(self, size: int = CACHED_PAGES) -> None:
        self._size = size
        self._pages: OrderedDict[str, tuple[Page, str]] = OrderedDict()

    def get(self, key: str, render: Callable[[], Page]) -> tuple[Page, str]:
        """The page and its ETag, rendered on the first request for ``key``."""
        found = self._pages.get(key)
        if found is not None:
            self._pages.move_to_end(key)
            return found
        page = render()
        found = self._pages[key] = (page, page.etag)
        if len(self._pages) > self._size:
            self._pages.popitem(last=False)
        return found


class Site:
    """The pages of one knowledge base (one version of it) in one language."""

    def __init__(
        self, kb: KnowledgeBase, language: str, version: KnowledgeVersion | None = None
    ) -> None:
        self.kb = kb
        self.version = version or KnowledgeHolder(kb).version
        self.contents = Contents(kb.entries, shipped_sources(), language)
        self.cache = PageCache()
        self.stylesheet = Page(_stylesheet(), content_type="text/css")
        env = Environment(
            loader=PackageLoader("handlers.helpcenter", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["page"] = lambda entry_id: quote(entry_id, safe="")
        env.globals.update(
            t=partial(_phrase, language),
            lang=language,
            max_query=MAX_QUERY,
            css_version=self.stylesheet.etag.strip('"')[:12],
            kb_version=self.version,
            kb_loaded=_when(self.version),
        )
        self._env = env

    def index(self) -> tuple[Page, str]:
        return self.cache.get("index", lambda: self._render("index.html", contents=self.contents))

    def entry(self, entry_id: str) -> tuple[Page, str] | None:
        """The entry's page, or ``None`` when the knowledge base has no such entry."""
        entry = self.kb.get(entry_id)
        if entry is None:
            return None
        return self.cache.get(
            f"entry:{entry.id}",
            lambda: self._render(
                "entry.html", page=entry_page(self.kb, self.contents, entry), query=""
            ),
        )

    def search(self, raw_query: str) -> tuple[Page, str]:
        query, cut = clean_query(raw_query)
        return self.cache.get(
            f"search:{int(cut)}:{query}",
            lambda: self._render(
                "search.html",
                page=search_page(self.kb, self.contents, query, cut),
                query=query,
            ),
        )

    def problem(self, status: int, root: str = "") -> tuple[Page, str]:
        """The page for 404 (no such page), 405 (not a read) or 500, whose links lead to the
        contents through ``root`` (relative: "" beside it, "../" one folder below, …)."""
        render = partial(self._render, "problem.html", status_code=status, status=status, root=root)
        if root.count("/") > MAX_DEPTH:
            page = render()
            return page, page.etag
        return self.cache.get(f"problem:{status}:{root}", render)

    def _render(self, template: str, status_code: int = 200, **context: Any) -> Page:
        context.setdefault("root", "")
        context.setdefault("query", "")
        body = self._env.get_template(template).render(**context)
        return Page(body.encode("utf-8"), status_code)


class Sites:
    """The site of the knowledge base in use: a new one (with an empty page cache) once a
    reload has swapped the base, so no page of the old base is served after it."""

    def __init__(self, holder: KnowledgeHolder, language: str) -> None:
        self._holder = holder
        self._language = language
        kb, version = holder.snapshot()
        self._site = Site(kb, language, version)

    def current(self) -> Site:
        kb, version = self._holder.snapshot()
        site = self._site
        if site.kb is not kb:
            site = self._site = Site(kb, self._language, version)
        return site


def _when(version: KnowledgeVersion) -> str:
    when = version.loaded_at
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if when else "—"


def _phrase(language: str, key: str, **fields: object) -> str:
    return phrase(key, language, **fields)


def _stylesheet() -> bytes:
    return resources.files("handlers.helpcenter").joinpath("static/style.css").read_bytes()
