"""Parsing a company article: a Markdown file with a small, strictly checked front matter."""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.errors import ArticleError
from knowledge.model import Entry
from knowledge.noise import NoiseRules, is_noise, is_placeholder
from knowledge.parsing.common import (
    clean_markdown,
    extract_path,
    extract_steps,
    join_body,
    normalise_url,
)

__all__ = ["MAX_ARTICLE_BYTES", "FrontMatter", "parse_article", "parse_front_matter"]

MAX_ARTICLE_BYTES = 1_000_000
_SCALARS = frozenset({"title", "url", "path", "summary"})
_LISTS = frozenset({"questions", "synonyms"})
_KEY_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:(.*)$")
_ITEM_LINE = re.compile(r"^\s*-\s+(.*)$")


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The front matter of one company article; ``questions`` merges questions and synonyms."""

    title: str
    url: str = ""
    path: str = ""
    summary: str = ""
    questions: tuple[str, ...] = ()


def parse_article(
    data: bytes, source: str, rules: NoiseRules, breadcrumb: tuple[str, ...] = ()
) -> Entry:
    """One entry from a file's bytes; raises ArticleError(source, reason) for a broken file.

    The id is left empty: the loader assigns ids over the whole corpus.
    """
    if len(data) > MAX_ARTICLE_BYTES:
        raise ArticleError(source, f"larger than {MAX_ARTICLE_BYTES} bytes")
    if b"\x00" in data:
        raise ArticleError(source, "binary file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(source, f"not UTF-8 (byte {exc.start})") from exc
    if not text.strip():
        raise ArticleError(source, "empty file")
    front, body = _split_front_matter(text, source)
    meta = parse_front_matter(front, source)
    lines: list[str] = []
    for raw in body.splitlines():
        line, _ = clean_markdown(raw)
        if is_noise(line, rules) or is_placeholder(line, rules):
            continue
        lines.append(line)
    while lines and lines[0].strip() in ("", meta.title):
        lines.pop(0)
    return Entry(
        id="",
        title=meta.title,
        source=source,
        kind="article",
        url=meta.url,
        breadcrumb=breadcrumb,
        path=meta.path or extract_path(lines),
        summary=meta.summary,
        steps=extract_steps(lines),
        body=join_body(lines),
        questions=meta.questions,
    )


def _split_front_matter(text: str, source: str) -> tuple[list[str], str]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ArticleError(source, "no front matter (the file must start with '---')")
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return lines[1:i], "\n".join(lines[i + 1 :])
    raise ArticleError(source, "front matter is not closed with '---'")


def parse_front_matter(lines: list[str], source: str) -> FrontMatter:
    """Strict subset of YAML: ``key: value``, ``key: [a, b]`` and ``- item`` lists under a key."""
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    current_list: str | None = None
    for number, line in enumerate(lines, start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _ITEM_LINE.match(line)
        if item:
            if current_list is None:
                raise ArticleError(source, f"front matter line {number}: list item without a key")
            lists[current_list].append(_unquote(item.group(1), source, number))
            continue
        m = _KEY_LINE.match(line)
        if not m or line[:1].isspace():
            raise ArticleError(source, f"front matter line {number}: expected 'key: value'")
        key, raw = m.group(1).lower(), m.group(2).strip()
        if key in values or key in lists:
            raise ArticleError(source, f"front matter line {number}: '{key}' given twice")
        current_list = None
        if key in _LISTS:
            lists[key] = _inline_list(raw, source, number) if raw else []
            current_list = None if raw else key
        elif key in _SCALARS:
            values[key] = _unquote(raw, source, number)
        else:
            raise ArticleError(source, f"front matter line {number}: unknown key '{key}'")
    title = values.get("title", "").strip()
    if not title:
        raise ArticleError(source, "no title in front matter")
    url = values.get("url", "").strip()
    if url and not re.match(r"^https?://\S+$", url):
        raise ArticleError(source, f"url is not an http(s) link: {url!r}")
    questions = [q for q in lists.get("questions", []) + lists.get("synonyms", []) if q]
    return FrontMatter(
        title=title,
        url=normalise_url(url) or url,
        path=values.get("path", "").strip(),
        summary=values.get("summary", "").strip(),
        questions=tuple(dict.fromkeys(questions)),
    )


def _unquote(raw: str, source: str, number: int) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    if raw[:1] in "\"'":
        raise ArticleError(source, f"front matter line {number}: unclosed quote")
    if raw[:1] in "[{" or raw[:1] in "|>":
        raise ArticleError(source, f"front matter line {number}: unsupported value {raw[:10]!r}")
    return raw


def _inline_list(raw: str, source: str, number: int) -> list[str]:
    if not (raw.startswith("[") and raw.endswith("]")):
        raise ArticleError(source, f"front matter line {number}: expected a [a, b] list")
    items: list[str] = []
    buf: list[str] = []
    quote = ""
    for ch in raw[1:-1]:
        if quote:
            if ch == quote:
                quote = ""
            buf.append(ch)
        elif ch in "\"'":
            quote = ch
            buf.append(ch)
        elif ch == ",":
            items.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    if quote:
        raise ArticleError(source, f"front matter line {number}: unclosed quote in list")
    items.append("".join(buf))
    return [_unquote(x, source, number) for x in items if x.strip()]
