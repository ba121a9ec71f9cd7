"""Answer quality on an evaluation set, in process, and the threshold calibration.

    python bench/quality.py [--set tests/data/dev.jsonl] [--misses] [--calibrate]

Scores exactly as ../shared/tools/evaluate.py does (same title/url rules), but without a
subprocess, so that it is quick to run while working on the engine. --calibrate searches the
decision thresholds (knowledge.base.Thresholds) for the best balanced score and prints them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge.base import KnowledgeBase, Thresholds, choose_action  # noqa: E402
from knowledge.matcher import Weights  # noqa: E402
from knowledge.model import Action, Decision, Match  # noqa: E402


def _norm_title(s: str) -> str:
    s = (s or "").casefold().replace("ё", "е")
    return " ".join(re.sub(r"[^\w]+", " ", s).split())


def _norm_url(s: str) -> str:
    s = re.sub(r"^https?://", "", (s or "").strip().lower())
    return re.sub(r"^www\.", "", s).rstrip("/")


def _hit(title: str, url: str, targets: list[dict[str, str]]) -> bool:
    for target in targets:
        if title and _norm_title(title) == _norm_title(target.get("title", "")):
            return True
        u = _norm_url(url)
        if u and target.get("url") and u == _norm_url(target["url"]) and "/open/" in u:
            return True
    return False


def score(cases: list[dict], decisions: list[Decision]) -> dict[str, float]:
    m: dict[str, float] = dict.fromkeys(
        ("answerable", "top1", "rank1", "recall3", "false_escalate"), 0.0
    )
    kinds: dict[str, list[int]] = {}
    for case, d in zip(cases, decisions, strict=True):
        exp = case["expect"]
        if "answer" in exp:
            m["answerable"] += 1
            hits = [_hit(x.entry.title, x.entry.url, exp["answer"]) for x in d.matches[:3]]
            m["top1"] += d.action is Action.ANSWER and bool(hits) and hits[0]
            m["rank1"] += bool(hits) and hits[0]
            m["recall3"] += d.action in (Action.ANSWER, Action.CLARIFY) and any(hits)
            m["false_escalate"] += d.action in (Action.ESCALATE, Action.OPERATOR)
        else:
            want = next(k for k in ("escalate", "operator", "smalltalk") if exp.get(k))
            ok = kinds.setdefault(want, [0, 0])
            ok[0] += d.action.value == want
            ok[1] += 1
    a = max(m["answerable"], 1)
    out = {k: m[k] / a for k in ("top1", "rank1", "recall3", "false_escalate")}
    out.update({f"{k}_acc": v[0] / v[1] for k, v in kinds.items()})
    return out


def _misses(cases: list[dict], decisions: list[Decision]) -> None:
    for case, d in zip(cases, decisions, strict=True):
        exp = case["expect"]
        got = [f"{x.entry.title[:50]} ({x.score:.2f})" for x in d.matches[:3]]
        if "answer" in exp:
            ok = (
                d.action is Action.ANSWER
                and d.matches
                and _hit(d.matches[0].entry.title, d.matches[0].entry.url, exp["answer"])
            )
            want = exp["answer"][0]["title"][:50]
        else:
            want = next(k for k in ("escalate", "operator", "smalltalk") if exp.get(k))
            ok = d.action.value == want
        if not ok:
            print(f"{case['id']} [{case['kind']}] {case['q'][:70]!r}\n   -> {d.action.value} {got}")
            print(f"   want {want}")


def _objective(s: dict[str, float]) -> float:
    return (
        s["top1"]
        + 0.5 * s["recall3"]
        + 0.8 * s.get("escalate_acc", 0)
        - 2.0 * max(0.0, s["false_escalate"] - 0.03)
    )


class _Case:
    """One question's intent and candidates, scored once; re-weighted offline."""

    def __init__(self, kb: KnowledgeBase, case: dict) -> None:
        self.case = case
        self.intent, self.ranked = kb.explain(case["q"])
        self.entries = [kb.entries[r.doc] for r in self.ranked]

    def decision(self, weights: Weights, t: Thresholds) -> Decision:
        if self.intent == "operator":
            return Decision(Action.OPERATOR)
        if self.intent:
            return Decision(Action.SMALLTALK)
        scored = sorted(
            (
                (weights.combine(r.bm25, r.coverage, r.head, r.fuzzy) * r.known, n)
                for n, r in enumerate(self.ranked)
            ),
            reverse=True,
        )
        matches = tuple(Match(self.entries[n], sc) for sc, n in scored[:10])
        return Decision(choose_action([m.score for m in matches], t), matches)


def _simplex(step: float) -> list[Weights]:
    n = round(1 / step)
    out = []
    for a in range(n + 1):
        for b in range(n + 1 - a):
            for c in range(n + 1 - a - b):
                d = n - a - b - c
                out.append(Weights(a * step, b * step, c * step, d * step))
    return out


def _calibrate(kb: KnowledgeBase, cases: list[dict]) -> None:
    prepared = [_Case(kb, c) for c in cases]
    grid = [
        Thresholds(answer=a, answer_margin=m, sure=s, clarify=c)
        for a, m, s, c in itertools.product(
            (0.35, 0.40, 0.45, 0.50, 0.55),
            (0.0, 0.02, 0.04),
            (0.50, 0.60, 0.70),
            (0.20, 0.25, 0.30, 0.35, 0.40),
        )
        if c <= a <= s
    ]
    best: tuple[float, Weights, Thresholds, dict[str, float]] | None = None
    for weights in _simplex(0.1):
        for t in grid:
            s = score(cases, [p.decision(weights, t) for p in prepared])
            if best is None or _objective(s) > best[0]:
                best = (_objective(s), weights, t, s)
    assert best is not None
    print("best weights:", best[1])
    print("best thresholds:", best[2])
    print("scores:", {k: round(v, 3) for k, v in best[3].items()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default=str(ROOT / "tests" / "data" / "dev.jsonl"))
    parser.add_argument("--misses", action="store_true")
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    with open(args.set, encoding="utf-8") as lines:
        cases = [json.loads(line) for line in lines if line.strip()]
    kb = KnowledgeBase.load()
    if args.calibrate:
        _calibrate(kb, cases)
        return 0
    decisions = [kb.decide(c["q"]) for c in cases]
    if args.misses:
        _misses(cases, decisions)
    print({k: round(v, 3) for k, v in score(cases, decisions).items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
