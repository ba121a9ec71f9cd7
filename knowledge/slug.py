"""Entry ids: ASCII slugs of source, breadcrumb and title; Cyrillic-to-Latin transliteration."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import PurePath

__all__ = ["MAX_SLUG", "assign_ids", "base_id", "slugify", "stable_hash", "transliterate"]

MAX_SLUG = 60  # characters of the title part; longer titles are cut at a word boundary

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
    "і": "i", "ї": "yi", "є": "ye", "ґ": "g",
}  # fmt: skip


def transliterate(text: str) -> str:
    """Lower-case ASCII rendering: Cyrillic by a fixed table, Latin diacritics dropped."""
    out: list[str] = []
    for ch in text.casefold():
        if ch in _CYRILLIC:
            out.append(_CYRILLIC[ch])
            continue
        if not ch.isalnum():
            out.append(" ")
            continue
        decomposed = unicodedata.normalize("NFKD", ch)
        out.append("".join(c for c in decomposed if c.isascii() and not unicodedata.combining(c)))
    return "".join(out)


def slugify(text: str, limit: int = MAX_SLUG) -> str:
    """Hyphen-separated ASCII words, cut at a word boundary to at most ``limit`` characters."""
    words = re.findall(r"[a-z0-9]+", transliterate(text))
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > limit:
            break
        slug = candidate
    return slug or (words[0][:limit] if words else "x")


def stable_hash(*parts: str, length: int = 6) -> str:
    """A short hex digest that does not depend on the process (unlike ``hash``)."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def base_id(source: str, title: str) -> str:
    """The id before disambiguation: source stem plus title."""
    return f"{slugify(PurePath(source).stem, 30)}--{slugify(title)}"


def assign_ids(keys: Sequence[tuple[str, tuple[str, ...], str]]) -> list[str]:
    """Ids for (source, breadcrumb, title) keys, in the same order.

    The plain ``base_id`` is used when it is unique; colliding ids get a hash of the source, the
    breadcrumb and the title; keys identical in all three (a generic heading repeated under one
    parent) also get their occurrence number, the only order-dependent part.
    """
    bases = [base_id(source, title) for source, _, title in keys]
    base_counts = Counter(bases)
    full_counts = Counter(keys)
    seen: defaultdict[tuple[str, tuple[str, ...], str], int] = defaultdict(int)
    ids: list[str] = []
    for key, base in zip(keys, bases, strict=True):
        if base_counts[base] == 1:
            ids.append(base)
            continue
        source, breadcrumb, title = key
        parts = [source, *breadcrumb, title]
        if full_counts[key] > 1:
            seen[key] += 1
            parts.append(str(seen[key]))
        ids.append(f"{base}-{stable_hash(*parts)}")
    return ids
