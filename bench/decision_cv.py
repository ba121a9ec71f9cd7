"""Confidence features and hand-off rules tried for the decision, judged by the calibration's
nested cross-validation (nothing written).

    python bench/decision_cv.py --list
    python bench/decision_cv.py FEATURE [FEATURE ...] [--drop FEATURE ...] [--seeds 4]
    python bench/decision_cv.py --handoff [--below 0.3] [--strict] [--seeds 4]

With features, each named one is added to both models (``--drop`` leaves shipped ones out) and
the pool goes through ``bench/quality.py --calibrate --dry-run``: models and thresholds refitted
on four folds of five, each fold decided by the others, averaged over ``--seeds`` fold splits.
With ``--handoff``, the shipped features' nested decisions are kept and a «did you mean» whose
offered entries hold none of the question's nouns and names in a title (or question-like
heading) hands off instead, when P(in top 3) is under ``--below`` (``--strict``: only when none
holds the heaviest of them anywhere either). docs/quality.md, round 9, has the figures.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import calibration  # noqa: E402
from bench.errors import related  # noqa: E402
from bench.quality import (  # noqa: E402
    SCORING,
    hit,
    load_set,
    pool_sets,
    print_table,
    run_calibration,
)
from knowledge.base import KnowledgeBase, Thresholds, offered  # noqa: E402
from knowledge.confidence import FEATURES, Calibration  # noqa: E402
from knowledge.index import PREFIX_FACTOR, prefix_key  # noqa: E402
from knowledge.matcher import STAYS_CANDIDATES  # noqa: E402
from knowledge.model import Action  # noqa: E402
from knowledge.query import Query, QueryKey  # noqa: E402
from knowledge.scoring import Ranked  # noqa: E402

# An unknown key weighs like this share of the rarest key (knowledge.matcher.UNKNOWN_WEIGHT).
UNKNOWN_SHARE = 0.7


@dataclass(frozen=True, slots=True)
class Probe:
    """One question as the decision sees it, with what the features below measure."""

    kb: KnowledgeBase
    keys: tuple[QueryKey, ...]
    lang: str
    ranked: tuple[Ranked, ...]
    shown: tuple[Ranked, ...]  # what a «did you mean» offers
    mass: dict[str, float]  # each known key's weight x rarity
    subject: dict[str, float]  # the same for the nouns, adjectives and names only
    query: Query

    @classmethod
    def of(cls, kb: KnowledgeBase, text: str) -> Probe:
        reading = kb.read(text)
        ranked = reading.ranked
        weighed = kb._matcher.weigh(reading.query)
        mass = dict(weighed.mass) if weighed else {}
        morph = kb._analyzer.morph
        subject = {
            k.key: mass[k.key]
            for k in reading.query.keys
            if k.known
            and k.key in mass
            and not k.key.isdigit()
            and (k.name or morph.weight(k.token or k.key) >= 1.0)
        }
        shown = tuple(ranked[n] for n in offered(ranked, kb.thresholds))
        query = reading.query
        return cls(kb, query.keys, query.lang, ranked, shown, mass, subject, query)

    @property
    def heaviest(self) -> str | None:
        return max(self.subject, key=lambda k: (self.subject[k], k)) if self.subject else None

    def heads(self, doc: int) -> frozenset[str]:
        return self.kb._index.infos[doc].head_keys

    def known_share(self, counts: Callable[[QueryKey], bool]) -> float:
        """:attr:`Ranked.known` counting only the unknown keys that ``counts``."""
        total = sum(self.mass.values())
        unknown = sum(
            self.kb._index.max_idf * UNKNOWN_SHARE * k.weight
            for k in self.keys
            if not k.known and len(k.key) > 2 and counts(k)
        )
        return total / (total + unknown) if total else 0.0

    def common(self, k: QueryKey) -> bool:
        """A common word of an English or Romanian question: the Russian base cannot know it."""
        return self.lang in ("en", "ro") and self.kb._analyzer.morph.is_common(
            k.token or k.key, self.lang
        )

    def noun(self, k: QueryKey) -> bool:
        return self.kb._analyzer.morph.weight(k.token or k.key) >= 1.0


def _all_heads(kb: KnowledgeBase) -> frozenset[str]:
    return frozenset().union(*(info.head_keys for info in kb._index.infos))


def _base_titled(p: Probe) -> float:
    if not p.subject:
        return 1.0
    heads = _all_heads(p.kb)
    return sum(m for k, m in p.subject.items() if k in heads) / sum(p.subject.values())


def _heaviest_any(p: Probe) -> str | None:
    """The question's heaviest key, as Matcher.stays_first leaves it out."""
    return max(p.mass.items(), key=lambda item: (item[1], item[0]))[0] if p.mass else None


def _action_held(p: Probe, doc: int) -> float:
    """The share of the question's mass in verbs and adverbs (its action, not its subject) that
    an entry holds, itself or by its word family; 1.0 for a question without one."""
    keys = p.kb._index.doc_keys[doc]
    action = {
        k.key: p.mass[k.key]
        for k in p.keys
        if k.known and k.key in p.mass and not k.key.isdigit() and not k.name and not p.noun(k)
    }
    whole = sum(action.values())
    if not whole:
        return 1.0
    held = sum(
        m if k in keys else m * PREFIX_FACTOR if (f := prefix_key(k)) and f in keys else 0.0
        for k, m in action.items()
    )
    return held / whole


def _stays_topic(p: Probe) -> float:
    """``stays``, or the entry first without the heaviest key is the top one's relative: the
    question's other words point to the same topic, if not to the same entry."""
    top = p.ranked[0]
    heaviest = _heaviest_any(p)
    if top.stays or heaviest is None or len(p.mass) < 2:
        return 1.0
    rest = replace(p.query, keys=tuple(k for k in p.query.keys if k.key != heaviest))
    again = p.kb._matcher.rank_raw(rest, 1, frozenset(), STAYS_CANDIDATES)
    if not again:
        return 0.0
    a, b = p.kb._index.infos[top.doc], p.kb._index.infos[again[0].doc]
    shared = len(set(a.title_keys) & set(b.title_keys))
    likeness = shared / max(len(set(a.title_keys) | set(b.title_keys)), 1)
    kin = related(a.entry, b.entry) in ("siblings", "chapter")
    return float(kin or likeness >= 0.4)


def _twin(p: Probe) -> float:
    """How alike the runner-up is to the first entry: 1.0 for a sibling, the chapter or a
    section of it, else the share of title keys the two have in common (two documents that
    cover the same topic, where a question written from one of them means that one)."""
    if len(p.ranked) < 2:
        return 0.0
    a, b = p.kb._index.infos[p.ranked[0].doc], p.kb._index.infos[p.ranked[1].doc]
    if related(a.entry, b.entry) in ("siblings", "chapter"):
        return 1.0
    shared = len(set(a.title_keys) & set(b.title_keys))
    return shared / max(len(set(a.title_keys) | set(b.title_keys)), 1)


def _best(values: Sequence[float]) -> float:
    return max(values, default=0.0)


# name: (what it measures, how)
CANDIDATES: dict[str, tuple[str, Callable[[Probe], float]]] = {
    "base_titled": (
        "share of the question's nouns and names (by rarity) in any entry's title or headings",
        _base_titled,
    ),
    "heavy_base_head": (
        "the heaviest noun or name in any title of the base",
        lambda p: float(p.heaviest is None or p.heaviest in _all_heads(p.kb)),
    ),
    "heavy_choice_head": (
        "the heaviest noun or name in an offered entry's title",
        lambda p: float(p.heaviest is None or any(p.heaviest in p.heads(r.doc) for r in p.shown)),
    ),
    "heavy_choice_doc": (
        "the heaviest noun or name anywhere in an offered entry",
        lambda p: float(
            p.heaviest is None or any(p.heaviest in p.kb._index.doc_keys[r.doc] for r in p.shown)
        ),
    ),
    "choice_titled": (
        "the offered entries' best share of the question's rarity in their titles",
        lambda p: _best([r.titled for r in p.shown]) / max(p.ranked[0].asked, 1e-9),
    ),
    "choice_evidence": (
        "the offered entries' best share of the question's rarity",
        lambda p: _best([r.evidence for r in p.shown]) / max(p.ranked[0].asked, 1e-9),
    ),
    "other_phrases": (
        "the best word pairs together among the offered entries after the first",
        lambda p: _best([r.phrases for r in p.shown[1:]]),
    ),
    "known_subject": (
        "known, counting only unknown nouns and names (a common word of an English or Romanian "
        "question aside)",
        lambda p: p.known_share(lambda k: p.noun(k) and not p.common(k)),
    ),
    "known_native": (
        "known, a common word of an English or Romanian question aside",
        lambda p: p.known_share(lambda k: not p.common(k)),
    ),
    "foreign": ("an English or Romanian question", lambda p: float(p.lang in ("en", "ro"))),
    "subject_share": (
        "the share of the question's mass in nouns and names",
        lambda p: sum(p.subject.values()) / max(sum(p.mass.values()), 1e-9),
    ),
    "top_evidence_share": (
        "the top entry's share of the question's rarity",
        lambda p: p.ranked[0].evidence / max(p.ranked[0].asked, 1e-9),
    ),
    "offered": ("how many entries a «did you mean» offers", lambda p: float(len(p.shown))),
    "top_question_title": (
        "the top entry's title is a question",
        lambda p: float(p.kb.entries[p.ranked[0].doc].title.rstrip().endswith("?")),
    ),
    "top_depth": (
        "the top entry's depth in its document",
        lambda p: float(len(p.kb.entries[p.ranked[0].doc].breadcrumb)),
    ),
    "stays_titled": (
        "still first without the heaviest key, or that key is in the top entry's title",
        lambda p: float(p.ranked[0].stays >= 1.0 or _heaviest_any(p) in p.heads(p.ranked[0].doc)),
    ),
    "action_held": (
        "the share (by rarity) of the question's verbs and adverbs the top entry holds",
        lambda p: _action_held(p, p.ranked[0].doc),
    ),
    "stays_topic": (
        "still first without the heaviest key, or what is first then is a sibling, the chapter "
        "or a section of the top entry, or shares 0.4 of its title's keys",
        lambda p: _stays_topic(p),
    ),
    "top_linked": (
        "the top entry has a link",
        lambda p: float(bool(p.kb.entries[p.ranked[0].doc].url)),
    ),
    "typos": (
        "the share of the question's keys read as another word (typo repairs)",
        lambda p: sum(r.kind == "typo" for r in p.query.repairs) / max(len(p.keys), 1),
    ),
    "reshaped": (
        "the question was read through a keyboard-layout or transliteration repair",
        lambda p: float(any(r.kind in ("layout", "translit") for r in p.query.repairs)),
    ),
    "words": ("how many keys the question has (log)", lambda p: math.log(1 + len(p.keys))),
    "twin": (
        "the runner-up is a sibling, the chapter or a section of the first entry, else the "
        "share of title keys the two have in common",
        _twin,
    ),
}


def _extension(names: Sequence[str], drop: Sequence[str]) -> calibration.Extension:
    def values(kb: KnowledgeBase, text: str) -> list[float]:
        probe = Probe.of(kb, text)
        return [CANDIDATES[n][1](probe) for n in names] if probe.ranked else [0.0] * len(names)

    return calibration.Extension(tuple(names), values, tuple(drop))


def handoff(kb: KnowledgeBase, below: float, strict: bool, seeds: int) -> None:
    """The nested decisions of the shipped features, with a «did you mean» that offers nothing
    titled with the question's subject handed off under ``below``."""
    names = pool_sets()
    cases = {n: load_set(n)[1] for n in names}
    pooled = [s for n in names for s in calibration.collect(kb, n, cases[n], hit)]
    untitled = [_untitled(Probe.of(kb, c["q"]), strict) for n in names for c in cases[n]]
    rows: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for seed in range(calibration.SEED, calibration.SEED + seeds):
        judged = calibration.estimates(pooled, calibration.cross_validated(pooled, seed=seed))
        actions, _ = calibration.nested_decisions(pooled, judged, Thresholds(), SCORING, seed)
        for rule, bar in (("", 0.0), ("+ho", below)):
            decided = [
                (s, Action.ESCALATE if a is Action.CLARIFY and off and e.top3 < bar else a)
                for s, a, e, off in zip(pooled, actions, judged, untitled, strict=True)
            ]
            for name in (*names, "pool"):
                group = [d for d in decided if name in ("pool", d[0].set)]
                row = rows.setdefault(name + rule, {})
                counts[name + rule] = len(group)
                for column, value in SCORING.figures(group).items():
                    row[column] = row.get(column, 0.0) + value / seeds
    print("+ho: a «did you mean» offering nothing titled with the question's subject hands off")
    print(f"under P(in top 3) {below}{' (strict)' if strict else ''}; {seeds} fold splits")
    print_table(rows, counts)


def _untitled(p: Probe, strict: bool) -> bool:
    """No offered entry has any of the question's nouns and names in its title (``strict``:
    nor the heaviest of them anywhere); a question without any cannot tell."""
    if not p.shown or not p.subject:
        return False
    if any(p.subject.keys() & p.heads(r.doc) for r in p.shown):
        return False
    heaviest = p.heaviest
    return not (strict and any(heaviest in p.kb._index.doc_keys[r.doc] for r in p.shown))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("features", nargs="*", help="candidate features (--list)")
    parser.add_argument("--drop", nargs="*", default=[], help="shipped features left out")
    parser.add_argument("--list", action="store_true", help="the candidate features")
    parser.add_argument("--handoff", action="store_true", help="the hand-off rule instead")
    parser.add_argument("--below", type=float, default=0.3)
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    if args.list:
        for name, (what, _) in CANDIDATES.items():
            print(f"{name:<20} {what}")
        return 0
    unknown = [n for n in args.features if n not in CANDIDATES]
    unknown += [n for n in args.drop if n not in FEATURES]
    if unknown:
        parser.error(f"unknown features: {', '.join(unknown)}")
    kb = KnowledgeBase.load(calibration=Calibration.untrained())
    if args.handoff:
        handoff(kb, args.below, args.strict, args.seeds)
        return 0
    extension = _extension(args.features, args.drop)
    run_calibration(kb, False, max(args.seeds, 1), extension=extension)
    return 0


if __name__ == "__main__":
    sys.exit(main())
