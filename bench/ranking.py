"""Ranking alone, per set: is the right entry first, or in the first three, before any decision?

    python bench/ranking.py [--set NAME|PATH ...] [--misses]

Prints helpbot's matcher beside plain BM25 with Snowball stems over the same entries (title,
breadcrumb, summary, steps and body as one field, k1 = 1.2, b = 0.75): the baseline the issue
compares with. Recall at 3 bounds what a «did you mean» can do, so ranking comes first.
Only the answerable questions that are not small talk or a request for a human count.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import Stemmer

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.quality import FINAL_CHECK, available_sets, hit, load_set  # noqa: E402
from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.confidence import Calibration  # noqa: E402
from knowledge.model import Entry  # noqa: E402

_WORD = re.compile(r"[0-9a-zа-яё]+")


class PlainBM25:
    """The baseline: one bag of Snowball stems per entry."""

    def __init__(self, entries: Sequence[Entry], k1: float = 1.2, b: float = 0.75) -> None:
        self._stem = Stemmer.Stemmer("russian")
        self._docs = [Counter(self._terms(self._text(e))) for e in entries]
        self._len = [sum(d.values()) for d in self._docs]
        self._avg = sum(self._len) / max(len(self._len), 1)
        df = Counter(t for d in self._docs for t in d)
        n = len(self._docs)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self._k1, self._b = k1, b

    @staticmethod
    def _text(e: Entry) -> str:
        return " ".join((e.title, " ".join(e.breadcrumb), e.summary, " ".join(e.steps), e.body))

    def _terms(self, text: str) -> list[str]:
        words = _WORD.findall(text.casefold().replace("ё", "е"))
        return list(self._stem.stemWords(words))

    def rank(self, question: str, limit: int = 3) -> list[int]:
        terms = [t for t in self._terms(question) if t in self._idf]
        scores: list[tuple[float, int]] = []
        for n, doc in enumerate(self._docs):
            s = 0.0
            for t in terms:
                tf = doc.get(t, 0)
                if tf:
                    norm = 1 - self._b + self._b * self._len[n] / self._avg
                    s += self._idf[t] * tf * (self._k1 + 1) / (tf + self._k1 * norm)
            if s > 0:
                scores.append((-s, n))
        return [n for _, n in sorted(scores)[:limit]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", help="a set's name or path (default: all)")
    parser.add_argument("--misses", action="store_true", help="questions whose entry is not first")
    args = parser.parse_args()
    kb = KnowledgeBase.load(calibration=Calibration.untrained())  # ranking needs none
    baseline = PlainBM25(kb.entries)
    print(
        f"{'set':<16}{'n':>5} {'helpbot top1':>13} {'recall3':>8} {'bm25 top1':>10} {'recall3':>8}"
    )
    for name in args.set or available_sets():
        name, cases = load_set(name)
        counts = Counter[str]()
        for case in cases:
            targets = case["expect"].get("answer")
            reading = kb.read(case["q"])
            intent, ranked = reading.intent.kind, reading.ranked[:3]
            if not targets or intent:
                continue
            ours = [hit(kb.entries[r.doc].title, kb.entries[r.doc].url, targets) for r in ranked]
            plain = [
                hit(kb.entries[n].title, kb.entries[n].url, targets)
                for n in baseline.rank(case["q"])
            ]
            counts.update(
                n=1, top1=ours[:1] == [True], r3=any(ours), b1=plain[:1] == [True], b3=any(plain)
            )
            if args.misses and ours[:1] != [True]:
                got = [kb.entries[r.doc].title[:45] for r in ranked]
                print(f"  {case['id']} {case['q'][:80]!r}\n     {got}")
        n = max(counts["n"], 1)
        mark = " (final check)" if name == FINAL_CHECK else ""
        print(
            f"{name:<16}{counts['n']:>5} {counts['top1'] / n:>13.3f} {counts['r3'] / n:>8.3f}"
            f" {counts['b1'] / n:>10.3f} {counts['b3'] / n:>8.3f}{mark}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
