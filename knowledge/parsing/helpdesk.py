"""Parsing the help-desk compilation (seed 000): one entry per distinct article, merged."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from knowledge.model import Entry
from knowledge.noise import NoiseRules, cut_at_end, drop_nav_runs, is_noise, is_placeholder
from knowledge.parsing.common import (
    clean_markdown,
    extract_path,
    extract_steps,
    find_open_urls,
    join_body,
    join_fragments,
    normalise_url,
)

__all__ = ["HelpdeskResult", "merge_duplicates", "parse_helpdesk", "split_articles"]

_FRONT_MATTER = re.compile(r"^---[ \t]*\n((?:[A-Za-z_]+:.*\n)+)---[ \t]*$", re.MULTILINE)
_SOURCE_LINE = re.compile(r"^\s*(?:\*\*)?Источник:?(?:\*\*)?:?\s*(\S*)\s*$", re.IGNORECASE)
_BYLINE = re.compile(r"^\s*(?:\*\*)?(?:Автор|Последнее обновление):", re.IGNORECASE)
_SUMMARY_HEAD = re.compile(r"^(?:коротко|кратко)(?:\s+о\s+главном)?:?$", re.IGNORECASE)
_BYLINE_WINDOW = 200  # a scraped page's by-line sits after at most this many navigation lines
# A help-desk page's own trail («Регистрация и вход > Управление аккаунтом в Битрикс24») is a few
# sections deep; a longer run above the title is the site's menu, not the trail.
_MAX_CRUMBS = 4


@dataclass(frozen=True, slots=True)
class HelpdeskResult:
    """Entries of one help-desk file and how many duplicate articles were folded into them."""

    entries: tuple[Entry, ...]
    merged_duplicates: int


def split_articles(text: str) -> list[tuple[dict[str, str], str]]:
    """(front matter, rest) for every article: each starts at a ``---``-fenced front matter."""
    matches = list(_FRONT_MATTER.finditer(text))
    out: list[tuple[dict[str, str], str]] = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        front: dict[str, str] = {}
        for line in m.group(1).splitlines():
            key, _, value = line.partition(":")
            front[key.strip().lower()] = value.strip().strip("\"'")
        out.append((front, text[m.end() : end]))
    return out


def parse_helpdesk(text: str, source: str, rules: NoiseRules) -> HelpdeskResult:
    """Parse the compilation; articles with the same title or the same specific URL are merged."""
    articles = split_articles(text)
    category_lines = {
        "## " + f.get("category", "").replace("_", " ").strip() for f, _ in articles
    } - {"## "}
    drafts = [_parse_article(f, body, source, rules, category_lines) for f, body in articles]
    merged, count = merge_duplicates([d for d in drafts if d.title])
    return HelpdeskResult(tuple(merged), count)  # ids come from the loader


def _category_label(category: str) -> str:
    return re.sub(r"^\d+[_\s]*", "", category).replace("_", " ").strip()


def _parse_article(
    front: dict[str, str], text: str, source: str, rules: NoiseRules, drop: set[str]
) -> Entry:
    lines = [line for line in text.splitlines() if line.strip() not in drop]
    title = front.get("title", "").strip()
    category = _category_label(front.get("category", ""))
    heading_at = next((i for i, x in enumerate(lines) if x.startswith("# ")), None)
    if heading_at is not None:
        title = title or lines[heading_at][2:].strip()
        lines = lines[heading_at + 1 :]
    template, material = _split_template(lines, rules)
    url_candidates = [front.get("source", ""), *template.get("источник", [])]
    url_candidates += [m.group(1) for x in material if (m := _SOURCE_LINE.match(x))]
    url = next((u for u in map(normalise_url, url_candidates) if u), "")
    if not url:
        found = find_open_urls(text)
        url = found[0] if len(found) == 1 else ""
    material = [x for x in material if not _SOURCE_LINE.match(x)]
    body_lines, summary_lines = _clean_material(material, title, rules)
    template_path = extract_path(template.get("где в bitrix24", []))
    summary = "\n".join(x for x in summary_lines if x) or "\n".join(template.get("назначение", []))
    steps = extract_steps(body_lines) or extract_steps(template.get("пошаговая инструкция", []))
    extra = [x for key, v in template.items() if key not in _USED_TEMPLATE for x in v]
    return Entry(
        id="",
        title=title,
        source=source,
        kind="article",
        url=url,
        breadcrumb=_page_trail(material, title, rules) or tuple(x for x in [category] if x),
        category=category,
        path=extract_path(body_lines, about=title) or template_path,
        summary=summary.strip(),
        steps=steps,
        body=join_body([*body_lines, *extra]),
    )


def _page_trail(material: Sequence[str], title: str, rules: NoiseRules) -> tuple[str, ...]:
    """The sections the help desk itself files a scraped page under, or ``()``.

    The page prints them right above its title, between the site's header (noise) and the title
    line over the by-line. They win over the compilation's category, which sorts whole pages by
    one topic (the general chat under «AI и CoPilot», a lost password under «Права доступа»).
    """
    lines = [x.strip() for x in material[:_BYLINE_WINDOW]]
    byline = next((i for i, x in enumerate(lines) if _BYLINE.match(x)), None)
    if byline is None or byline < 1 or _fold(lines[byline - 1]) != _fold(title):
        return ()
    trail: list[str] = []
    for line in reversed(lines[: byline - 1]):
        if not line or is_noise(line, rules) or _fold(line) == _fold(title):
            break
        trail.insert(0, " ".join(line.split()))
    return tuple(trail) if len(trail) <= _MAX_CRUMBS else ()


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


_USED_TEMPLATE = {"источник", "где в bitrix24", "назначение", "пошаговая инструкция", "материал"}


def _split_template(lines: list[str], rules: NoiseRules) -> tuple[dict[str, list[str]], list[str]]:
    """The template's sections with their real (non-placeholder) lines, and the material."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for i, line in enumerate(lines):
        head = re.match(r"^##\s+(.*)$", line.strip())
        if head and head.group(1).strip().casefold() in rules.template_headings:
            current = head.group(1).strip().casefold()
            if current == "материал":
                return sections, lines[i + 1 :]
            sections.setdefault(current, [])
            continue
        if current is None:
            if line.strip():  # no template at all: everything is material
                return {}, lines
            continue
        if line.strip() and not is_placeholder(line, rules) and line.strip() != "---":
            sections[current].append(line.strip())
    return sections, [] if current is not None else lines


def _clean_material(
    material: list[str], title: str, rules: NoiseRules
) -> tuple[list[str], list[str]]:
    """Body lines and "Коротко" lines of the article's real text."""
    lines = cut_at_end(material, rules)
    bylines = [i for i, x in enumerate(lines[:_BYLINE_WINDOW]) if _BYLINE.match(x)]
    # After the by-line starts the text; without one, at least drop the site navigation.
    lines = lines[bylines[-1] + 1 :] if bylines else drop_nav_runs(lines, rules)
    is_markdown = any(x.lstrip().startswith(("#", "**", "> ", "|")) for x in lines)
    cleaned: list[tuple[str, bool]] = []
    for raw in lines:
        if is_noise(raw, rules) or is_placeholder(raw, rules):
            continue
        text, heading = clean_markdown(raw) if is_markdown else (raw.strip(), False)
        if text and (is_noise(text, rules) or is_placeholder(text, rules)):
            continue
        cleaned.append((text, heading))
    if not is_markdown:
        cleaned = [(x, False) for x in join_fragments([t for t, _ in cleaned])]
    while cleaned and cleaned[0][0].strip() in ("", title):
        cleaned.pop(0)
    return _split_summary(cleaned)


def _split_summary(cleaned: Sequence[tuple[str, bool]]) -> tuple[list[str], list[str]]:
    body: list[str] = []
    summary: list[str] = []
    in_summary = False
    for text, heading in cleaned:
        if _SUMMARY_HEAD.match(text.strip()):
            in_summary = True
            continue
        if in_summary and heading:
            in_summary = False
        if in_summary:
            if text:
                summary.append(text.strip())
            continue
        body.append(text)
    return body, summary


def merge_duplicates(entries: Sequence[Entry]) -> tuple[list[Entry], int]:
    """Fold articles sharing a title (case and spacing aside) or a specific URL into one.

    The fullest article leads (title, URL, path); the others add the body lines it lacks. The
    choice depends only on the articles' content, so reordering the file changes nothing.
    """
    parent = list(range(len(entries)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_by: dict[str, int] = {}
    for i, e in enumerate(entries):
        keys = ["t:" + " ".join(e.title.casefold().split())]
        if e.url:
            keys.append("u:" + e.url)
        for key in keys:
            if key in first_by:
                parent[find(i)] = find(first_by[key])
            else:
                first_by[key] = i
    groups: dict[int, list[Entry]] = {}
    for i, e in enumerate(entries):
        groups.setdefault(find(i), []).append(e)
    merged = [_merge_group(g) for g in groups.values()]
    merged.sort(key=lambda e: (e.category, e.title, e.url))  # by topic, as the compilation files
    return merged, sum(len(g) - 1 for g in groups.values())


def _merge_group(group: list[Entry]) -> Entry:
    if len(group) == 1:
        return group[0]
    ordered = sorted(group, key=lambda e: (-len(e.body), e.url, e.body))
    lead = ordered[0]
    seen = set(lead.body.splitlines())
    extra: list[str] = []
    for other in ordered[1:]:
        new = [x for x in other.body.splitlines() if x.strip() and x not in seen]
        seen.update(new)
        if new:
            extra += ["", *new]
    return replace(
        lead,
        url=lead.url or next((e.url for e in ordered if e.url), ""),
        path=lead.path or next((e.path for e in ordered if e.path), ""),
        summary=max((e.summary for e in ordered), key=len),
        steps=lead.steps or next((e.steps for e in ordered if e.steps), ()),
        body=join_body([*lead.body.splitlines(), *extra]),
    )
