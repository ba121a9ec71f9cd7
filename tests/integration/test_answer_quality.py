"""Answer quality on the development set (a copy in tests/data): a regression fails CI.

The floors are the knowledge-engine issue's targets. Scoring is bench/quality.py's, which
follows ../shared/tools/evaluate.py exactly.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from knowledge.base import KnowledgeBase

ROOT = Path(__file__).resolve().parents[2]
DEV_SET = ROOT / "tests" / "data" / "dev.jsonl"

FLOORS = {
    "top1": 0.90,
    "recall3": 0.96,
    "escalate_acc": 0.90,
    "operator_acc": 0.95,
    "smalltalk_acc": 0.95,
}
MAX_FALSE_ESCALATE = 0.04


def _quality_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "bench" / "quality.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scores() -> dict[str, float]:
    quality = _quality_module()
    with DEV_SET.open(encoding="utf-8") as lines:
        cases = [json.loads(line) for line in lines if line.strip()]
    kb = KnowledgeBase.load()
    return dict(quality.score(cases, [kb.decide(c["q"]) for c in cases]))


@pytest.mark.parametrize("metric", sorted(FLOORS))
def test_metric_stays_above_its_floor(scores: dict[str, float], metric: str) -> None:
    assert scores[metric] >= FLOORS[metric], scores


def test_false_escalations_stay_rare(scores: dict[str, float]) -> None:
    assert scores["false_escalate"] <= MAX_FALSE_ESCALATE, scores
