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
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge.base import KnowledgeBase, Thresholds, choose_action  # noqa: E402
from knowledge.intents import OPERATOR  # noqa: E402
from knowledge.matcher import Weights  # noqa: E402
from knowledge.model import Action, Decision  # noqa: E402


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


# The targets: calibration first closes any shortfall from them, then prefers more
# right answers, right choices and right escalations overall.
TARGETS = {"top1": 0.90, "recall3": 0.96, "escalate_acc": 0.90}
MAX_FALSE_ESCALATE = 0.04


def _objective(s: dict[str, float]) -> float:
    shortfall = sum(max(0.0, goal - s.get(k, 0.0)) for k, goal in TARGETS.items())
    shortfall += max(0.0, s["false_escalate"] - MAX_FALSE_ESCALATE)
    overall = s["top1"] + s["recall3"] + s.get("escalate_acc", 0.0) - s["false_escalate"]
    return overall - 10 * shortfall


class _Case:
    """One question's intent and candidates, scored once; re-weighted offline."""

    def __init__(self, kb: KnowledgeBase, case: dict) -> None:
        self.expect = case["expect"]
        self.intent, self.ranked = kb.explain(case["q"])
        targets = self.expect.get("answer", [])
        self.hits = [
            _hit(kb.entries[r.doc].title, kb.entries[r.doc].url, targets) for r in self.ranked
        ]

    def summary(self, weights: Weights) -> tuple[float, float, bool, bool]:
        """Top score, runner-up score, top is right, a right one is in the top three."""
        # Ties keep the matcher's order (its sort is stable), as in production.
        scored = sorted(
            ((weights.rescore(r), n) for n, r in enumerate(self.ranked)),
            key=lambda pair: (-pair[0], pair[1]),
        )
        top = [n for _, n in scored[:3]]
        first = scored[0][0] if scored else 0.0
        second = scored[1][0] if len(scored) > 1 else 0.0
        return first, second, bool(top) and self.hits[top[0]], any(self.hits[n] for n in top)


def _score_offline(
    cases: list[_Case], summaries: list[tuple[float, float, bool, bool]], t: Thresholds
) -> dict[str, float]:
    m = dict.fromkeys(("n", "top1", "recall3", "fe", "esc", "esc_ok"), 0.0)
    for case, (first, second, right, in3) in zip(cases, summaries, strict=True):
        if case.intent:
            action = Action.OPERATOR if case.intent == OPERATOR else Action.SMALLTALK
        else:
            action = choose_action([first, second], t)
        if "answer" in case.expect:
            m["n"] += 1
            m["top1"] += action is Action.ANSWER and right
            m["recall3"] += action in (Action.ANSWER, Action.CLARIFY) and in3
            m["fe"] += action in (Action.ESCALATE, Action.OPERATOR)
        elif case.expect.get("escalate"):
            m["esc"] += 1
            m["esc_ok"] += action is Action.ESCALATE
    n = max(m["n"], 1)
    return {
        "top1": m["top1"] / n,
        "recall3": m["recall3"] / n,
        "false_escalate": m["fe"] / n,
        "escalate_acc": m["esc_ok"] / max(m["esc"], 1),
    }


def _simplex(step: float, around: Weights) -> list[Weights]:
    """Every split of the four part weights in steps of ``step``; the rest as in ``around``."""
    n = round(1 / step)
    out = []
    for a in range(n + 1):
        for b in range(n + 1 - a):
            for c in range(n + 1 - a - b):
                d = n - a - b - c
                out.append(
                    replace(around, bm25=a * step, coverage=b * step, head=c * step, fuzzy=d * step)
                )
    return out


def calibrate(kb: KnowledgeBase, cases: list[dict]) -> tuple[Weights, Thresholds, dict]:
    """The weights and thresholds with the best objective on ``cases``, and their scores."""
    prepared = [_Case(kb, c) for c in cases]
    grid = [
        Thresholds(answer=a, answer_margin=m, sure=s, clarify=c)
        for a, m, s, c in itertools.product(
            (0.30, 0.35, 0.40, 0.45, 0.50, 0.55),
            (0.0, 0.02, 0.04, 0.06),
            (0.45, 0.50, 0.55, 0.60, 0.70),
            (0.15, 0.20, 0.25, 0.30, 0.35, 0.40),
        )
        if c <= a <= s
    ]
    best: tuple[float, Weights, Thresholds, dict[str, float]] | None = None
    current = Weights()
    for _ in range(2):  # coordinate descent: the powers, then the part weights
        candidates = [
            replace(
                current,
                unknown_power=u,
                length_power=lp,
                evidence_mass=em,
                evidence_power=ep,
                name_penalty=npen,
                evidence_head_bonus=hb,
            )
            for u in (1.0, 1.5)
            for lp in (0.3, 0.45, 0.6)
            for em in (0.8, 1.0, 1.2)
            for ep in (0.5, 1.0)
            for npen in (0.3, 0.5)
            for hb in (0.0, 0.25, 0.5)
        ]
        candidates += _simplex(0.1, current)
        for weights in candidates:
            summaries = [p.summary(weights) for p in prepared]
            for t in grid:
                s = _score_offline(prepared, summaries, t)
                if best is None or _objective(s) > best[0]:
                    best = (_objective(s), weights, t, s)
        assert best is not None
        current = best[1]
    assert best is not None
    return best[1], best[2], best[3]


def score_with(
    kb: KnowledgeBase, cases: list[dict], weights: Weights, thresholds: Thresholds
) -> dict[str, float]:
    """Scores on ``cases`` under other weights and thresholds, without rebuilding the index."""
    prepared = [_Case(kb, c) for c in cases]
    return _score_offline(prepared, [p.summary(weights) for p in prepared], thresholds)


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
        weights, thresholds, scores = calibrate(kb, cases)
        print("best weights:", weights)
        print("best thresholds:", thresholds)
        print("scores:", {k: round(v, 3) for k, v in scores.items()})
        return 0
    decisions = [kb.decide(c["q"]) for c in cases]
    if args.misses:
        _misses(cases, decisions)
    print({k: round(v, 3) for k, v in score(cases, decisions).items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
