"""The one module that reads files: the shipped corpus, the noise rules and company articles."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from knowledge.errors import ArticleError, KnowledgeError
from knowledge.model import Entry
from knowledge.noise import NoiseRules, parse_rules
from knowledge.parsing import looks_like_helpdesk, parse_article, parse_document, parse_helpdesk
from knowledge.parsing.article import MAX_ARTICLE_BYTES
from knowledge.resources import DATA_DIR
from knowledge.slug import assign_ids

__all__ = [
    "CORPUS_DIR",
    "NOISE_FILE",
    "PARSER_VERSION",
    "QUESTIONS_FILE",
    "Corpus",
    "fingerprint",
    "load_company_articles",
    "load_corpus",
    "load_noise_rules",
    "read_key_cache",
    "shipped_sources",
    "write_key_cache",
]

logger = logging.getLogger(__name__)

CORPUS_DIR = Path(__file__).parent / "corpus"
# The shipped entries' extra questions: how people ask what each entry answers, written from the
# entry's own text (never from an evaluation question); "entry id<TAB>question" a line.
QUESTIONS_FILE = "questions.tsv"
NOISE_FILE = DATA_DIR / "noise.txt"
# Part of the fingerprint: bump it when parsing changes so that caches built earlier go stale
# ("2": round 16b's menu paths, breadcrumbs and heading levels; the dictionary's infinitive).
PARSER_VERSION = "2"
_CORPUS_SUFFIXES = (".md", ".txt")


@dataclass(frozen=True, slots=True)
class Corpus:
    """Every entry of the knowledge base, with what loading found on the way."""

    entries: tuple[Entry, ...]
    merged_duplicates: int = 0
    errors: tuple[ArticleError, ...] = ()
    sources: tuple[str, ...] = ()

    def stats(self) -> dict[str, int]:
        """Counts for ``helpbot kb stats``."""
        entries = self.entries
        return {
            "entries": len(entries),
            "articles": sum(1 for e in entries if e.kind == "article"),
            "sections": sum(1 for e in entries if e.kind == "section"),
            "merged_duplicates": self.merged_duplicates,
            "with_url": sum(1 for e in entries if e.url),
            "without_url": sum(1 for e in entries if not e.url),
            "with_path": sum(1 for e in entries if e.path),
            "with_summary": sum(1 for e in entries if e.summary),
            "with_steps": sum(1 for e in entries if e.steps),
            "sources": len(self.sources),
            "errors": len(self.errors),
        }


def load_noise_rules(path: Path = NOISE_FILE) -> NoiseRules:
    """The noise rules shipped in ``knowledge/data/noise.txt``."""
    try:
        return parse_rules(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise KnowledgeError(f"cannot read noise rules {path}: {exc}") from exc


def load_corpus(
    extra_dir: Path | None = None,
    *,
    corpus_dir: Path = CORPUS_DIR,
    rules: NoiseRules | None = None,
    phrasings: Mapping[str, Sequence[str]] | None = None,
) -> Corpus:
    """The shipped corpus plus the company articles in ``extra_dir`` (when given).

    A broken company file or an unusable folder is logged, kept in ``errors`` and skipped; only
    a missing shipped corpus is fatal. ``phrasings`` (entry id → questions, approved by a
    person) become extra questions of those entries, indexed like front-matter ``questions``;
    ids no longer in the corpus are ignored.
    """
    rules = rules or load_noise_rules()
    if not corpus_dir.is_dir():
        raise KnowledgeError(f"corpus folder not found: {corpus_dir}")
    entries: list[Entry] = []
    errors: list[ArticleError] = []
    sources: list[str] = []
    merged = 0
    for path in sorted(p for p in corpus_dir.iterdir() if p.suffix in _CORPUS_SUFFIXES):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(_report(ArticleError(path, f"unreadable corpus file: {exc}")))
            continue
        sources.append(path.name)
        if looks_like_helpdesk(text):
            result = parse_helpdesk(text, path.name, rules)
            entries += result.entries
            merged += result.merged_duplicates
        else:
            entries += parse_document(text, path.name, rules)
    if extra_dir is not None:
        company, company_errors = load_company_articles(extra_dir, rules)
        entries += company
        errors += company_errors
        sources += sorted({e.source for e in company})
    ids = assign_ids([(e.source, e.breadcrumb, e.title) for e in entries])
    final = tuple(replace(e, id=i) for e, i in zip(entries, ids, strict=True))
    shipped = _shipped_questions(corpus_dir / QUESTIONS_FILE, {e.id for e in final}, errors)
    extra = {
        i: [*shipped.get(i, ()), *(phrasings or {}).get(i, ())]
        for i in {*shipped, *(phrasings or ())}
    }
    if extra:
        final = tuple(_with_phrasings(e, extra.get(e.id, ())) for e in final)
    return Corpus(final, merged, tuple(errors), tuple(sources))


def _shipped_questions(
    path: Path, ids: set[str], errors: list[ArticleError]
) -> dict[str, list[str]]:
    """The shipped questions file as entry id → questions; a line naming no entry (the corpus's
    ids changed) is reported and skipped, a missing file is no questions."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(_report(ArticleError(path, f"unreadable questions file: {exc}")))
        return {}
    found: dict[str, list[str]] = {}
    unknown: list[str] = []
    for line in text.splitlines():
        entry_id, tab, question = line.partition("\t")
        if not line.strip() or line.startswith("#"):
            continue
        if not tab or not question.strip():
            unknown.append(line[:60])
        elif entry_id.strip() not in ids:
            unknown.append(entry_id.strip()[:60])
        else:
            found.setdefault(entry_id.strip(), []).append(question.strip())
    if unknown:
        errors.append(
            _report(ArticleError(path, f"{len(unknown)} lines name no entry: {unknown[0]}"))
        )
    return found


def _with_phrasings(entry: Entry, extra: Sequence[str]) -> Entry:
    known = {q.casefold() for q in (entry.title, *entry.questions)}
    new: list[str] = []
    for question in extra:
        if question.strip() and question.casefold() not in known:
            known.add(question.casefold())
            new.append(question)
    return replace(entry, questions=(*entry.questions, *new)) if new else entry


def shipped_sources(corpus_dir: Path = CORPUS_DIR) -> frozenset[str]:
    """The ``source`` of every shipped document: any other source is a company article."""
    try:
        return frozenset(p.name for p in corpus_dir.iterdir() if p.suffix in _CORPUS_SUFFIXES)
    except OSError:
        return frozenset()


def load_company_articles(
    folder: Path, rules: NoiseRules
) -> tuple[list[Entry], list[ArticleError]]:
    """Every ``*.md`` and ``*.txt`` under ``folder`` (the same format: front matter, then the
    text; sub-folders become the breadcrumb; hidden ones are ignored); bad files skipped."""
    if not folder.exists():
        return [], [_report(ArticleError(folder, "articles folder not found"))]
    if not folder.is_dir():
        return [], [_report(ArticleError(folder, "articles folder is not a folder"))]
    entries: list[Entry] = []
    errors: list[ArticleError] = []
    try:
        paths = sorted(_article_files(folder))
    except OSError as exc:
        return [], [_report(ArticleError(folder, f"articles folder unreadable: {exc}"))]
    for path in paths:
        relative = path.relative_to(folder)
        source = relative.as_posix()
        try:
            if path.stat().st_size > MAX_ARTICLE_BYTES:
                raise ArticleError(source, f"larger than {MAX_ARTICLE_BYTES} bytes")
            data = path.read_bytes()
            entries.append(parse_article(data, source, rules, relative.parent.parts))
        except ArticleError as exc:
            errors.append(_report(exc))
        except OSError as exc:
            errors.append(_report(ArticleError(source, f"unreadable: {exc.strerror or exc}")))
    return entries, errors


def _article_files(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
        if path.suffix.lower() in _CORPUS_SUFFIXES and path.is_file() and not hidden:
            yield path


def _report(error: ArticleError) -> ArticleError:
    logger.warning("skipped %s: %s", error.path, error.reason)
    return error


def fingerprint(extra_dir: Path | None = None, *, corpus_dir: Path = CORPUS_DIR) -> str:
    """A hash of every input's name, size and modification time, for caches to compare."""
    digest = hashlib.sha256(f"parser={PARSER_VERSION}".encode())
    files = [NOISE_FILE, *sorted(corpus_dir.glob("*"))]
    if extra_dir is not None:
        try:
            files += sorted(_article_files(extra_dir)) if extra_dir.is_dir() else []
        except OSError:
            digest.update(b"unreadable-extra-dir")
        digest.update(f"extra={extra_dir}".encode())
    for path in files:
        try:
            st = path.stat()
        except OSError:
            digest.update(f"{path}:missing".encode())
            continue
        digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def _key_cache_path(cache_dir: Path, fingerprint: str) -> Path:
    return cache_dir / f"keys-{_safe(fingerprint)}.json"


def read_key_cache(cache_dir: Path, fingerprint: str) -> dict[str, str]:
    """Keys saved by an earlier process with the same morphology, or nothing."""
    path = _key_cache_path(cache_dir, fingerprint)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring the key cache %s: %s", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def write_key_cache(cache_dir: Path, fingerprint: str, keys: dict[str, str]) -> None:
    """Saves the keys atomically; a cache that cannot be written only costs time later."""
    path = _key_cache_path(cache_dir, fingerprint)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(keys, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        logger.warning("cannot write the key cache in %s: %s", cache_dir, exc)


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in text)
