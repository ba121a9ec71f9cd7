"""The calibrated confidence: stored models, the decision policy, and how they are fitted."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from benches import bench

from knowledge.base import Thresholds, choose_action
from knowledge.confidence import FEATURES, Calibration, Estimate, Policy
from knowledge.errors import KnowledgeError
from knowledge.model import Action


def test_the_stored_models_give_probabilities_and_top3_is_never_below_top1() -> None:
    calibration = Calibration.load()
    rng = random.Random(7)
    for _ in range(200):
        x = [rng.uniform(0, 1) for _ in FEATURES]
        estimate = calibration.estimate_from(x)
        assert 0.0 <= estimate.top1 <= estimate.top3 <= 1.0


def test_models_fitted_on_other_features_are_refused(tmp_path: Path) -> None:
    stale = Calibration.untrained().to_json()
    stale["features"] = ["score", "something_gone"]
    path = tmp_path / "confidence.json"
    path.write_text(json.dumps(stale), encoding="utf-8")
    with pytest.raises(KnowledgeError, match="--calibrate"):
        Calibration.load(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"confidence\.json"):
        Calibration.load(path)


@pytest.mark.parametrize(
    ("top1", "top3", "lead", "action"),
    [
        (0.90, 0.95, 0.10, Action.ANSWER),
        (0.90, 0.95, 0.00, Action.CLARIFY),  # likely right, but tied with the runner-up
        (0.60, 0.90, 0.30, Action.CLARIFY),
        (0.05, 0.10, 0.30, Action.ESCALATE),
    ],
)
def test_the_policy(top1: float, top3: float, lead: float, action: Action) -> None:
    assert choose_action(Estimate(top1, top3), lead, Thresholds()) is action


def test_fitting_finds_an_informative_feature_and_folds_cover_every_set() -> None:
    calibration = bench("quality").calibration
    rng = random.Random(3)
    xs, ys = [], []
    for _ in range(300):
        x = [rng.uniform(0, 1) for _ in FEATURES]
        xs.append(x)
        ys.append(rng.random() < x[1])  # only the second feature says anything
    model = calibration.fit_logistic(xs, ys)
    assert model.weights[1] > 0.8
    assert max(abs(w) for n, w in enumerate(model.weights) if n != 1) < 0.4

    samples = [
        calibration.Sample(name, str(n), {"escalate": True}, "", (), (), 0.0)
        for name, size in (("a", 23), ("b", 7), ("c", 40))
        for n in range(size)
    ]
    folds = calibration.folds(samples, k=5)
    for name in "abc":
        seen = {f for s, f in zip(samples, folds, strict=True) if s.set == name}
        assert seen == set(range(5)), name  # every set has questions in every fold


def test_the_chosen_policy_keeps_the_hard_bounds_and_is_stored_with_the_models(
    tmp_path: Path,
) -> None:
    quality = bench("quality")
    calibration = quality.calibration
    right = {"answer": [{"title": "x"}]}
    samples, judged = [], []
    # Answerable questions whose top entry is right, likely-right, or only in the first three,
    # and uncovered ones: the estimates say which, with some overlap.
    for n in range(60):
        samples.append(calibration.Sample("s", f"a{n}", right, "", (1.0,), (True,), 0.1))
        judged.append(Estimate(0.6 + 0.4 * n / 60, 0.95))
    for n in range(15):
        samples.append(calibration.Sample("s", f"w{n}", right, "", (1.0,), (False, True), 0.1))
        judged.append(Estimate(0.3 + 0.4 * n / 15, 0.8))
    for n in range(30):
        samples.append(calibration.Sample("s", f"u{n}", {"escalate": True}, "", (1.0,), (), 0.1))
        judged.append(Estimate(0.05 + 0.6 * n / 30, 0.1 + 0.6 * n / 30))
    policy = calibration.choose_policy(samples, judged, Thresholds(), quality.SCORING)
    figures = quality._figures_of(quality._decide_all(samples, judged, policy))
    for name in calibration.HARD:
        assert figures[name] <= calibration.BOUNDS[name], (name, figures)
    assert figures["helped"] > 0.9

    stored = Calibration.untrained()
    stored = Calibration(stored.top1, stored.top3, Policy(policy.answer, policy.clarify))
    path = tmp_path / "confidence.json"
    path.write_text(json.dumps(stored.to_json()), encoding="utf-8")
    chosen = Thresholds.chosen_for(Calibration.load(path))
    assert (chosen.answer, chosen.clarify) == (policy.answer, policy.clarify)
    assert Thresholds.chosen_for(Calibration.untrained()) == Thresholds()


def test_the_policy_search_chooses_what_deciding_every_question_anew_would() -> None:
    # choose_policy sums counts along P(in top 3) instead of re-deciding every sample for each
    # pair of thresholds: the same pair must win, ties (the first best) included.
    quality = bench("quality")
    calibration = quality.calibration
    rng = random.Random(11)
    expects = [{"answer": [{"title": "x"}]}, {"escalate": True}, {"operator": True}]
    samples, judged = [], []
    for n in range(80):
        intent = "operator" if n % 20 == 0 else ""
        hits = tuple(rng.random() < 0.5 for _ in range(rng.randint(0, 3)))
        lead = rng.choice((0.0, 0.01, 0.05, 0.2))
        expect = rng.choice(expects)
        samples.append(calibration.Sample("s", str(n), expect, intent, (1.0,), hits, lead))
        # Estimates on the grids' steps, where ">=" and ">" differ.
        top1 = rng.choice((0.1, 0.5, 0.6, 0.7, 0.72, 0.8, 0.95))
        judged.append(Estimate(top1, max(top1, rng.choice((0.05, 0.1, 0.15, 0.2, 0.4)))))
    t = Thresholds()
    best = None
    for answer in calibration.ANSWER_GRID:
        for clarify in calibration.CLARIFY_GRID:
            if clarify > answer:
                break
            policy = Thresholds(answer=answer, clarify=clarify)
            decided = quality._decide_all(samples, judged, policy)
            key = calibration._policy_key(quality._figures_of(decided))
            if best is None or key < best[0]:
                best = (key, policy)
    assert best is not None
    chosen = calibration.choose_policy(samples, judged, t, quality.SCORING)
    assert (chosen.answer, chosen.clarify) == (best[1].answer, best[1].clarify)


def test_the_choices_figure_is_the_entries_a_did_you_mean_offers_on_average() -> None:
    quality = bench("quality")
    right, away = {"answer": [{"title": "x"}]}, {"escalate": True}
    outcomes = [
        (right, "clarify", [False, True]),  # two entries offered, the second right
        (away, "clarify", [False]),  # a question the base does not cover: one entry offered
        (right, "answer", [True]),  # an answer offers no choice
    ]
    figures = quality.figures(outcomes)
    assert figures["choices"] == 1.5
    assert figures["clarify"] == 0.5  # evaluate.py's own figures are unchanged by it
    assert figures["helped"] == 1.0
    assert "choices" not in quality.figures([(right, "answer", [True])])
