"""`helpbot kb explain` and `helpbot kb search`: why the bot decides what it does with a
question, and which entries a search finds."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

from bot.texts import LANGUAGES
from bot.why import describe_decision
from handlers.settings import load_settings
from knowledge.base import KnowledgeBase
from knowledge.explain import CandidateWhy, ConfidenceWhy, Explanation, QuestionRead
from knowledge.loader import load_corpus
from knowledge.model import Match

DEFAULT_LIMIT = 5
_INDENT = " " * 11


def add_parsers(kb_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    explain = kb_sub.add_parser(
        "explain", help="how a question is read, its candidates and why the bot decides so"
    )
    explain.add_argument("question")
    _common(explain, "candidates shown")
    explain.add_argument(
        "--lang", choices=LANGUAGES, default="ru", help="language of the decision's rule (ru)"
    )
    explain.set_defaults(func=_run_explain)
    search = kb_sub.add_parser("search", help="the entries that best match a text")
    search.add_argument("query")
    _common(search, "entries listed")
    search.set_defaults(func=_run_search)


def _common(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--limit", type=_positive, default=DEFAULT_LIMIT, help=f"{what} ({DEFAULT_LIMIT})"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--knowledge-dir", type=Path, help="company articles (KNOWLEDGE_DIR)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, not {text!r}")
    return value


def _knowledge_base(args: argparse.Namespace) -> KnowledgeBase:
    settings = load_settings()
    folder = args.knowledge_dir if args.knowledge_dir is not None else settings.knowledge_dir
    return KnowledgeBase.from_corpus(load_corpus(folder), settings.knowledge_cache_dir)


def _run_explain(args: argparse.Namespace) -> int:
    explanation = _knowledge_base(args).explain(args.question, limit=args.limit)
    if args.json:
        print(json.dumps(explanation.to_json(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(render_explanation(explanation, args.lang)))
    return 0


def _run_search(args: argparse.Namespace) -> int:
    matches = _knowledge_base(args).search(args.query, args.limit)
    if args.json:
        print(
            json.dumps(
                {"query": args.query, "matches": [_match_json(m) for m in matches]},
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    for n, m in enumerate(matches, 1):
        print(f"{n:>2}. {m.score:.2f}  {m.entry.title}  [{m.entry.id}]")
        place = " > ".join(m.entry.breadcrumb)
        for extra in (place, m.entry.url):
            if extra:
                print(f"{'':>10}{extra}")
    if not matches:
        print("no entry shares a word with this text")
    return 0


def _match_json(m: Match) -> dict[str, object]:
    e = m.entry
    return {
        "id": e.id,
        "title": e.title,
        "score": m.score,
        "breadcrumb": list(e.breadcrumb),
        "url": e.url,
    }


def render_explanation(x: Explanation, lang: str = "ru") -> Iterator[str]:
    """The explanation as terminal lines: the reading, the candidates, the confidence, the rule."""
    yield from _question_lines(x.question)
    yield ""
    if x.decision.ranked:
        yield f"candidates ({len(x.candidates)} of {x.decision.ranked} ranked):"
        for c in x.candidates:
            yield from _candidate_lines(c)
        yield ""
        yield from _confidence_lines(x.confidence)
        yield ""
    elif not x.question.intent:
        yield "candidates: none (no entry shares a known key with the question)"
        yield ""
    yield f"decision:  {x.decision.action.value}"
    yield f"{_INDENT}{describe_decision(x.decision, lang)}"


def _question_lines(q: QuestionRead) -> Iterator[str]:
    yield f"question:  {q.original}" + ("  (long: its beginning and end were read)" * q.cut)
    if q.intent:
        yield f"intent:    {q.intent} (decided before any search)"
    if q.read_as != " ".join(q.original.split()):
        yield f"read as:   {q.read_as}"
    if q.repairs:
        for n, r in enumerate(q.repairs):
            yield f"{'repairs:' if n == 0 else '':<11}{r.kind:<9}{r.original} → {r.repaired}"
    yield f"language:  {q.lang}"
    if q.dropped:
        yield f"dropped:   {' '.join(q.dropped)}  (stop words)"
    for n, s in enumerate(q.synonyms):
        yield f"{'synonyms:' if n == 0 else '':<11}{s.phrase} → {' '.join(s.keys)}"
    if not q.keys:
        yield "keys:      none"
        return
    yield f"keys:      {'word':<16} {'key':<14} {'weight':>6} {'rarity':>6}  notes"
    for k in q.keys:
        notes = [
            "known" if k.known else "unknown to the index",
            *(["name"] * k.name),
            "informative" if k.informative else "not informative",
            *(["picks candidates"] * k.selects),
            *([f"typo of {k.corrected_from}"] * bool(k.corrected_from)),
        ]
        yield (
            f"{_INDENT}{k.word:<16} {k.key:<14} {k.weight:>6.2f} {k.rarity:>6.2f}  "
            + ", ".join(notes)
        )
    yield f"known:     {q.known_share:.0%} of the question (by weight) is known to the index"


def _candidate_lines(c: CandidateWhy) -> Iterator[str]:
    yield f"{c.rank:>2}. {c.score:.3f}  {c.title}  [{c.id}]"
    place = " > ".join(c.breadcrumb)
    for extra in (place, c.url):
        if extra:
            yield f"{'':>10}{extra}"
    bm25 = c.evidence.get("bm25")
    if c.fields:
        split = " + ".join(f"{name} {value:.3f}" for name, value in c.fields.items())
        head = f"bm25 {bm25:.3f} = " if bm25 is not None else "bm25 by field: "
        yield f"{'':>10}{head}{split}"
    rest = [
        f"{name} {_number(value)}"
        for name, value in c.evidence.items()
        if name != "bm25" or not c.fields
    ]
    yield from _wrapped(rest, f"{'':>10}")


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.3f}"


def _wrapped(items: list[str], indent: str, width: int = 96) -> Iterator[str]:
    line = ""
    for item in items:
        if line and len(indent) + len(line) + 3 + len(item) > width:
            yield indent + line
            line = ""
        line = f"{line} · {item}" if line else item
    if line:
        yield indent + line


def _confidence_lines(c: ConfidenceWhy) -> Iterator[str]:
    yield (
        f"confidence: P(top entry right) {c.top1:.2f}, "
        f"P(a right one in the first three) {c.top3:.2f}"
    )
    if not c.terms:
        return
    yield f"{_INDENT}{'feature':<16} {'value':>8} {'log-odds: top1':>15} {'top3':>7}"
    yield f"{_INDENT}{'(bias)':<16} {'':>8} {c.bias1:>+15.2f} {c.bias3:>+7.2f}"
    for t in c.terms:
        yield f"{_INDENT}{t.name:<16} {_number(t.value):>8} {t.top1:>+15.2f} {t.top3:>+7.2f}"
