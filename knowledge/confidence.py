"""The calibrated confidence: how likely the top entry, or one of the first three, is right.

Two logistic models over what the matcher already measures of its best candidates (the parts of
the top one's score, how much of the question's subject it has, its lead over the runner-up).
They are fitted by ``python bench/quality.py --calibrate`` with cross-validation over every
question set, and stored as data (``knowledge/data/confidence.json``), so that a probability of
0.9 means that about nine such answers in ten were right on questions the fit never saw.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.errors import KnowledgeError
from knowledge.resources import DATA_DIR
from knowledge.scoring import Ranked

CALIBRATION_FILE = DATA_DIR / "confidence.json"
# Beyond this, a logit is certainty either way; exp() stays finite.
_MAX_LOGIT = 30.0
# In the order of the stored weights; :func:`features` returns exactly these.
FEATURES = (
    "score",
    "margin",
    "runner_gap",
    "bm25",
    "title_asked",
    "known",
    "other_product",
    "length",
    "phrases",
    "evidence",
    "entry_size",
    "stays",
    "crossed",
)


def features(ranked: Sequence[Ranked]) -> dict[str, float]:
    """What both estimates are made of, from the candidates best first (empty: no evidence)."""
    if not ranked:
        return {}
    top = ranked[0]
    second = ranked[1].score if len(ranked) > 1 else 0.0
    third = ranked[2].score if len(ranked) > 2 else 0.0
    return {
        "score": top.score,  # the matcher's relevance, 0..1
        "margin": max(0.0, top.score - second),  # its lead over the runner-up
        "runner_gap": second - third,  # a runner-up alone, or one of a crowd
        "bm25": top.bm25,  # the BM25F part of the score
        "title_asked": top.title_asked,
        "known": top.known,  # the share of the question the index knows at all
        "other_product": top.names_missed,  # products the question names, the entry never
        "length": math.log(max(top.length, 1)),
        "phrases": top.phrases,  # the question's word pairs found together in the entry
        # The rarity the question and the entry share: a few common words in common are weak
        # evidence however well they score.
        "evidence": top.evidence,
        # A long entry mentions many things in passing; a short one is about its title.
        "entry_size": math.log(1 + top.size),
        # Still first without the question's heaviest key: the rest of it points there too.
        "stays": top.stays,
        # Asked in another language than the entry's: its words meet the entry's through the
        # glossary only, and read differently from a question in the entry's own language.
        "crossed": top.crossed,
    }


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-_MAX_LOGIT, min(_MAX_LOGIT, z))))


@dataclass(frozen=True, slots=True)
class Logistic:
    """P = sigmoid(bias + sum of weight x standardised feature); ``mean`` and ``scale`` are
    the fitting data's, so each weight reads as the effect of one standard deviation."""

    bias: float
    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def probability(self, x: Sequence[float]) -> float:
        z = self.bias
        for term in self.terms(x):
            z += term
        return _sigmoid(z)

    def terms(self, x: Sequence[float]) -> list[float]:
        """What each feature adds to the log-odds (the bias aside)."""
        return [
            w * (v - m) / s
            for w, v, m, s in zip(self.weights, x, self.mean, self.scale, strict=True)
        ]

    def to_json(self, names: Sequence[str]) -> dict[str, Any]:
        return {
            "bias": round(self.bias, 6),
            "weights": {
                n: {"weight": round(w, 6), "mean": round(m, 6), "scale": round(s, 6)}
                for n, w, m, s in zip(names, self.weights, self.mean, self.scale, strict=True)
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], names: Sequence[str]) -> Logistic:
        rows = [data["weights"][n] for n in names]
        return cls(
            float(data["bias"]),
            tuple(float(r["weight"]) for r in rows),
            tuple(float(r["mean"]) for r in rows),
            tuple(float(r["scale"]) for r in rows),
        )


@dataclass(frozen=True, slots=True)
class Estimate:
    """``top1``: P(the top entry is right); ``top3``: P(a right one is among the choices a
    «did you mean» offers: the first three, less any scored far below the first; see
    knowledge.base.offered)."""

    top1: float
    top3: float


NO_EVIDENCE = Estimate(0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Policy:
    """The thresholds chosen with the models: answer at P(top1) >= ``answer``, else offer the
    first three at P(in top 3) >= ``clarify`` (see knowledge.base.Thresholds)."""

    answer: float
    clarify: float


@dataclass(frozen=True, slots=True)
class Calibration:
    """The two fitted models over :data:`FEATURES`, and the policy chosen for them (None: the
    defaults of knowledge.base.Thresholds)."""

    top1: Logistic
    top3: Logistic
    policy: Policy | None = None

    def estimate(self, ranked: Sequence[Ranked]) -> Estimate:
        found = features(ranked)
        return self.estimate_from([found[name] for name in FEATURES]) if found else NO_EVIDENCE

    def estimate_from(self, x: Sequence[float]) -> Estimate:
        """The estimate for a vector of :data:`FEATURES`."""
        top1 = self.top1.probability(x)
        # The top entry is one of the first three: the second estimate cannot be lower.
        return Estimate(top1, max(top1, self.top3.probability(x)))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"features": list(FEATURES)}
        if self.policy is not None:
            out["policy"] = {"answer": self.policy.answer, "clarify": self.policy.clarify}
        out["top1"] = self.top1.to_json(FEATURES)
        out["top3"] = self.top3.to_json(FEATURES)
        return out

    @classmethod
    def untrained(cls) -> Calibration:
        """Even odds everywhere: for fitting a new calibration when the stored one is stale."""
        zero = Logistic(0.0, (0.0,) * len(FEATURES), (0.0,) * len(FEATURES), (1.0,) * len(FEATURES))
        return cls(zero, zero)

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> Calibration:
        """The stored models; a file made for other features is an error, not a silent guess."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if tuple(data["features"]) != FEATURES:
                raise KnowledgeError(
                    f"{path.name} was fitted on other features: run bench/quality.py --calibrate"
                )
            policy = data.get("policy")
            return cls(
                Logistic.from_json(data["top1"], FEATURES),
                Logistic.from_json(data["top3"], FEATURES),
                Policy(float(policy["answer"]), float(policy["clarify"])) if policy else None,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KnowledgeError(f"{path.name}: {exc}") from exc
