"""Fits the calibrated confidence (knowledge/confidence.py) by cross-validation over question sets.

Used by ``python bench/quality.py --calibrate``. Each question is ranked once; its features and
whether its top entry (or one of the first three) is right are kept, so that refitting and
re-deciding are cheap. Folds are stratified by set: every set contributes to every fold, so the
held-out figures of a set come from models fitted mostly on the other sets' questions.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from knowledge.base import KnowledgeBase, Thresholds, choose_action, lead
from knowledge.confidence import (
    FEATURES,
    NO_EVIDENCE,
    Calibration,
    Estimate,
    Logistic,
    features,
)
from knowledge.intents import OPERATOR
from knowledge.model import Action

# Ridge on the standardised weights: with a few hundred questions, a feature that the data
# hardly supports stays near zero instead of fitting noise.
L2 = 1.0
FOLDS = 5
SEED = 20260611

Hit = Callable[[str, str, list[dict[str, str]]], bool]


@dataclass(frozen=True, slots=True)
class Sample:
    """One question of one set, ranked once."""

    set: str
    case_id: str
    expect: dict[str, object]
    intent: str
    x: tuple[float, ...]  # FEATURES, or () when nothing matched
    hits: tuple[bool, ...]  # per candidate, best first (up to Thresholds.clarify_max and more)
    lead: float  # the top candidate's score minus the runner-up's

    @property
    def top1(self) -> bool:
        return bool(self.hits) and self.hits[0]

    def in_top(self, n: int) -> bool:
        return any(self.hits[:n])


def collect(kb: KnowledgeBase, set_name: str, cases: Sequence[dict], hit: Hit) -> list[Sample]:
    samples = []
    for case in cases:
        reading = kb.read(case["q"])
        intent, ranked = reading.intent.kind, reading.ranked
        found = features(ranked)
        targets = case["expect"].get("answer", [])
        hits = tuple(hit(kb.entries[r.doc].title, kb.entries[r.doc].url, targets) for r in ranked)
        x = tuple(found[name] for name in FEATURES) if found else ()
        samples.append(Sample(set_name, case["id"], case["expect"], intent, x, hits, lead(ranked)))
    return samples


def decide(sample: Sample, calibration: Calibration, t: Thresholds) -> tuple[Action, Estimate]:
    """What KnowledgeBase.decide does with this question under another calibration."""
    if sample.intent:
        action = Action.OPERATOR if sample.intent == OPERATOR else Action.SMALLTALK
        return action, NO_EVIDENCE
    estimate = calibration.estimate_from(sample.x) if sample.x else NO_EVIDENCE
    return choose_action(estimate, sample.lead, t), estimate


def fit(samples: Sequence[Sample]) -> Calibration:
    """Both models on the questions the matcher ranks (small talk and human requests aside)."""
    usable = [s for s in samples if s.x and not s.intent]
    xs = [s.x for s in usable]
    return Calibration(
        fit_logistic(xs, [s.top1 for s in usable]),
        fit_logistic(xs, [s.in_top(3) for s in usable]),
    )


def folds(samples: Sequence[Sample], k: int = FOLDS, seed: int = SEED) -> list[int]:
    """A fold number per sample: each set shuffled on its own and dealt round the folds."""
    rng = random.Random(seed)
    by_set: dict[str, list[int]] = {}
    for n, s in enumerate(samples):
        by_set.setdefault(s.set, []).append(n)
    fold = [0] * len(samples)
    offset = 0
    for name in sorted(by_set):
        members = by_set[name]
        rng.shuffle(members)
        for i, n in enumerate(members):
            fold[n] = (i + offset) % k
        offset += len(members)
    return fold


def cross_validated(
    samples: Sequence[Sample], k: int = FOLDS, seed: int = SEED
) -> list[Calibration]:
    """The calibration each sample is judged by: fitted on the folds it is not in."""
    fold = folds(samples, k, seed)
    models = [fit([s for s, f in zip(samples, fold, strict=True) if f != i]) for i in range(k)]
    return [models[f] for f in fold]


def fit_logistic(xs: Sequence[Sequence[float]], ys: Sequence[bool], l2: float = L2) -> Logistic:
    """Ridge logistic regression by Newton's method on standardised features."""
    n, d = len(xs), len(FEATURES)
    mean = [sum(x[j] for x in xs) / n for j in range(d)]
    scale = [max(1e-6, math.sqrt(sum((x[j] - mean[j]) ** 2 for x in xs) / n)) for j in range(d)]
    rows = [[1.0, *((x[j] - mean[j]) / scale[j] for j in range(d))] for x in xs]
    w = [0.0] * (d + 1)
    for _ in range(50):
        grad = [0.0] * (d + 1)
        hess = [[0.0] * (d + 1) for _ in range(d + 1)]
        for row, y in zip(rows, ys, strict=True):
            z = sum(a * b for a, b in zip(w, row, strict=True))
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            for i in range(d + 1):
                grad[i] += (p - y) * row[i]
                for j in range(i, d + 1):
                    hess[i][j] += p * (1 - p) * row[i] * row[j]
        for i in range(1, d + 1):
            grad[i] += l2 * w[i]
            hess[i][i] += l2
        for i in range(d + 1):
            for j in range(i):
                hess[i][j] = hess[j][i]
        step = _solve(hess, grad)
        w = [a - b for a, b in zip(w, step, strict=True)]
        if max(abs(s) for s in step) < 1e-9:
            break
    return Logistic(w[0], tuple(w[1:]), tuple(mean), tuple(scale))


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """x with a·x = b, by Gauss-Jordan elimination with partial pivoting."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for c in range(n):
        pivot = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[pivot] = m[pivot], m[c]
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    return [m[i][n] / m[i][i] for i in range(n)]
