"""The held-out decisions that went wrong, each with the kind of failure it is.

    python bench/errors.py [--list] [--seed N]

Decides the pool (every set but the final check) as ``bench/quality.py --calibrate`` does —
models and thresholds fitted on four folds of five, each question decided by the others — and
sorts what a person would have got wrong into kinds, by the first that applies:

- a **wrong answer** (a confident answer with a wrong entry), by where the right entry was:
  the question is in English or Romanian; the right entry is a sibling, the chapter or a section
  of the chosen one in the same document; it is ranked second to fourth otherwise (another
  article on the neighbouring topic); it is further down or nowhere in the first ten;
- a **needless «did you mean»** (the right entry was first): English or Romanian; the runner-up
  is right too (near-duplicate topics, the label lists both); the runner-up is a sibling or the
  chapter of the first in the same document; the question was read through a repair (typo,
  layout, transliteration); a near tie (lead under the answer's 0.02) with an entry outside the
  chapter; a long story; else a paraphrase or colloquial wording sharing little with its entry;
- an **out-of-scope question answered**: it names a product the entry never mentions, or asks
  for a detail of a topic the base covers in general (or of a neighbouring one).

``--list`` prints every question of each kind, with P(top1), the lead over the runner-up, the
two features that pulled P(top1) down the most and the first two entries. docs/quality.md, round
11b, has the counts.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import calibration  # noqa: E402
from bench.quality import SCORING, hit, load_set, pool_sets  # noqa: E402
from knowledge.base import KnowledgeBase, Thresholds  # noqa: E402
from knowledge.confidence import FEATURES, Calibration  # noqa: E402
from knowledge.model import Action, Entry  # noqa: E402

REPAIRED = ("typo", "layout", "translit")
LONG_WORDS = 20  # a story, not a question
SHORT_KEYS = 2


def related(a: Entry, b: Entry) -> str:
    """How two entries stand in the documents: "siblings" (sections under one heading),
    "chapter" (one is the other's section), "same document", or "" (anything else)."""
    if a.url or b.url or a.breadcrumb[:1] != b.breadcrumb[:1]:
        return ""
    if a.breadcrumb == b.breadcrumb:
        return "siblings"
    if (*a.breadcrumb, a.title) == b.breadcrumb or (*b.breadcrumb, b.title) == a.breadcrumb:
        return "chapter"
    return "same document"


def wrong_kind(case: dict, entries: Sequence[Entry], right: Sequence[bool]) -> str:
    if case.get("lang", "ru") != "ru":
        return "English or Romanian question"
    place = next((n for n, ok in enumerate(right) if ok), None)
    if place is None or place > 3:
        return "right entry below fourth or not in the first ten (paraphrase)"
    if related(entries[0], entries[place]) in ("siblings", "chapter"):
        return "right entry a sibling, chapter or section of the chosen one"
    return "right entry second to fourth: a neighbouring topic chosen"


def needless_kind(case: dict, entries: Sequence[Entry], right: Sequence[bool], lead: float) -> str:
    if case.get("lang", "ru") != "ru":
        return "English or Romanian question"
    if len(right) > 1 and right[1]:
        return "runner-up right too (near-duplicate topics)"
    if related(entries[0], entries[1]) in ("siblings", "chapter"):
        return "runner-up a sibling or the chapter of the first"
    if case.get("kind") in REPAIRED:
        return "read through a repair (typo, layout, transliteration)"
    if lead < Thresholds().answer_lead:
        return "near tie with an entry outside the chapter"
    if len(case["q"].split()) > LONG_WORDS:
        return "long story"
    return "paraphrase or colloquial wording"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="every question of each kind")
    parser.add_argument("--seed", type=int, default=calibration.SEED)
    args = parser.parse_args()
    kb = KnowledgeBase.load(calibration=Calibration.untrained())
    sets = [load_set(n) for n in pool_sets()]  # each file read once
    cases = [c for _, set_cases in sets for c in set_cases]
    pooled = [s for n, set_cases in sets for s in calibration.collect(kb, n, set_cases, hit)]
    models = calibration.cross_validated(pooled, seed=args.seed)
    judged = calibration.estimates(pooled, models)
    actions, _ = calibration.nested_decisions(pooled, judged, Thresholds(), SCORING, args.seed)
    kinds: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for case, sample, model, action in zip(cases, pooled, models, actions, strict=True):
        if sample.intent or not sample.x:
            continue
        answerable = "answer" in case["expect"]
        if answerable and action is Action.ANSWER and not sample.top1:
            group = "wrong answers"
        elif answerable and action is Action.CLARIFY and sample.top1:
            group = "needless «did you mean» (right entry first)"
        elif case["expect"].get("escalate") and action is Action.ANSWER:
            group = "out-of-scope questions answered"
        else:
            continue
        ranked = kb.read(case["q"]).ranked
        entries = [kb.entries[r.doc] for r in ranked]
        right = [hit(e.title, e.url, case["expect"].get("answer", [])) for e in entries]
        terms = dict(zip(FEATURES, model.top1.terms(sample.x), strict=True))
        low = ", ".join(f for f, t in sorted(terms.items(), key=lambda ft: ft[1])[:2] if t < 0)
        if group == "wrong answers":
            kind = wrong_kind(case, entries, right)
        elif group.startswith("needless"):
            kind = needless_kind(case, entries, right, sample.lead)
        else:
            kind = (
                "names a product the entry never mentions"
                if ranked[0].names_missed
                else "a detail of a covered topic, or its neighbour's"
            )
        first = entries[0].title[:45]
        runner = entries[1].title[:45] if len(entries) > 1 else "-"
        kinds[group][kind].append(
            f"{sample.set}/{sample.case_id} P={model.estimate_from(sample.x).top1:.2f} "
            f"lead={sample.lead:.3f} low: {low or '-'}\n"
            f"        {case['q'][:90]!r}\n        1. {first} | 2. {runner}"
        )
    for group in ("wrong answers", "needless «did you mean» (right entry first)"):
        kinds.setdefault(group, defaultdict(list))
    for group, by_kind in kinds.items():
        print(f"{group}: {sum(len(v) for v in by_kind.values())}")
        for kind, items in sorted(by_kind.items(), key=lambda kv: -len(kv[1])):
            print(f"  {len(items):>3}  {kind}")
            if args.list:
                for item in items:
                    print(f"       {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
