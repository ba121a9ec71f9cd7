"""English and Romanian questions of the pool, one by one: where their right entry ranks and why.

    python bench/foreign.py [--set NAME|PATH ...] [--lang en|ro] [--misses]

For every answerable question in English or Romanian of every set but the final check: the right
entry's rank among the first 40 candidates, P(top1) and P(in top 3), the decision, the share of
the question the index knows, the words it does not know, and the words asked in Russian too
(glossary terms and ordinary words of the lexicon, with their Russian keys). Then a count of the
words left unknown, most frequent first: what neither the glossary nor the lexicon maps.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.quality import FINAL_CHECK, available_sets, hit, load_set  # noqa: E402
from knowledge.base import KnowledgeBase  # noqa: E402

DEPTH = 40


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", help="a set's name or path (default: the pool)")
    parser.add_argument("--lang", choices=("en", "ro"), help="one language only")
    parser.add_argument("--misses", action="store_true", help="only questions not ranked first")
    args = parser.parse_args()
    kb = KnowledgeBase.load()
    unknown: Counter[str] = Counter()
    ranks: Counter[str] = Counter()
    for name in args.set or [s for s in available_sets() if s != FINAL_CHECK]:
        name, cases = load_set(name)
        for case in cases:
            lang = case.get("lang", "ru")
            if lang not in ("en", "ro") or (args.lang and lang != args.lang):
                continue
            targets = case["expect"].get("answer")
            if not targets:
                continue
            reading = kb.read(case["q"], depth=DEPTH)
            entries = [kb.entries[r.doc] for r in reading.ranked]
            rank = next((n for n, e in enumerate(entries, 1) if hit(e.title, e.url, targets)), 0)
            ranks[
                "first" if rank == 1 else "in first three" if rank and rank <= 3 else "lower"
            ] += 1
            missing = [k.token for k in reading.query.keys if not k.known]
            unknown.update(missing)
            if args.misses and rank == 1:
                continue
            asked = [f"{r.original} → {r.repaired}" for r in reading.query.repairs]
            known = reading.ranked[0].known if reading.ranked else 0.0
            print(
                f"{name}:{case['id']} {lang} rank {rank or f'>{DEPTH}'} "
                f"P(top1) {reading.estimate.top1:.2f} P(top3) {reading.estimate.top3:.2f} "
                f"{reading.verdict.action.value} known {known:.2f}\n  {case['q']}"
            )
            print(f"  unknown: {', '.join(missing) or '-'}")
            print(f"  asked in Russian: {'; '.join(asked) or '-'}")
            if rank != 1:
                print(f"  right: {targets[0]['title']}")
                print(f"  first: {entries[0].title if entries else '-'}")
    print(f"\nright entry: {dict(ranks)}")
    print("words unknown to the index, most frequent first:")
    print("  " + ", ".join(f"{w} {n}" for w, n in unknown.most_common(40)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
