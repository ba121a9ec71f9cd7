"""bench/calibration.py: leave-one-set-out, how the decision carries to a set nobody fitted on."""

from __future__ import annotations

import random

from benches import bench

from knowledge.base import Thresholds


def _samples(quality, sets: dict[str, float], n: int = 40) -> list:
    """Questions of a few sets whose one feature tells right from wrong; ``sets`` gives each
    set's noise, so that sets differ as question sets by different authors do."""
    rng = random.Random(7)
    out = []
    for name, noise in sets.items():
        for i in range(n):
            right = i % 2 == 0
            x = (float(right) + rng.gauss(0, noise), rng.random())
            out.append(
                quality.calibration.Sample(
                    name, str(i), {"answer": [{"title": "t"}]}, "", x, (right, False), 0.5
                )
            )
    return out


def test_each_set_is_judged_by_models_fitted_on_the_other_sets_only() -> None:
    quality = bench("quality")
    calibration = quality.calibration
    samples = _samples(quality, {"a": 0.3, "b": 0.3, "c": 2.0})
    assert calibration.set_folds(samples) == [0] * 40 + [1] * 40 + [2] * 40
    models = calibration.left_out_sets(samples)
    for name, first in (("a", 0), ("b", 40), ("c", 80)):
        alone = calibration.fit([s for s in samples if s.set != name])
        assert models[first] == alone
        assert all(models[first + i] is models[first] for i in range(40))
    # The noisy set never taught the model that judges it: fitted on the clean sets, the
    # model is surer than the one that saw the noise.
    assert models[80].top1.weights[0] > calibration.fit(samples).top1.weights[0]


def test_left_out_sets_are_decided_with_thresholds_chosen_on_the_other_sets() -> None:
    quality = bench("quality")
    calibration = quality.calibration
    samples = _samples(quality, {"a": 0.3, "b": 0.5, "c": 0.4})
    for on in calibration.THRESHOLDS_ON:
        actions, judged, chosen = calibration.set_out_decisions(
            samples, Thresholds(), quality.SCORING, on
        )
        assert len(actions) == len(judged) == len(samples)
        assert sorted(chosen) == ["a", "b", "c"]
        rest = [s for s in samples if s.set != "a"]
        inner = (
            calibration.cross_validated(rest) if on == "folds" else calibration.left_out_sets(rest)
        )
        policy = calibration.choose_policy(
            rest,
            calibration.estimates(rest, inner),
            Thresholds(),
            quality.SCORING,
            worst_set=on == "worst",
        )
        assert chosen["a"] == policy
        model = calibration.fit(rest)
        assert judged[0] == model.estimate_from(samples[0].x)
        assert actions[0] == calibration.decide_with(samples[0], judged[0], policy)
        figures = quality._figures_of(list(zip(samples, actions, strict=True)))
        # Half the questions have no right entry shown: the right half answered, few others.
        assert figures["helped"] > 0.4 and figures["wrong"] < 0.1


def test_worst_set_thresholds_hold_the_hard_bounds_on_every_set_not_only_on_the_mix() -> None:
    quality = bench("quality")
    calibration = quality.calibration
    estimate = quality.Estimate
    right = {"answer": [{"title": "t"}]}
    samples, judged = [], []

    def add(name: str, n: int, hits: tuple[bool, ...], top1: float) -> None:
        for i in range(n):
            samples.append(calibration.Sample(name, f"{top1}{i}", right, "", (0.0,), hits, 0.5))
            judged.append(estimate(top1, max(top1, 0.9)))

    # A big set answered right at 0.85 and asked about at 0.2; a small one whose wrong
    # answers score 0.85 too: 4 of its 20 (0.20), 4 of the pool's 120 (0.033).
    add("big", 60, (True,), 0.85)
    add("big", 40, (False, True), 0.2)
    add("small", 16, (True,), 0.95)
    add("small", 4, (False, True), 0.85)
    t = Thresholds()
    pooled = calibration.choose_policy(samples, judged, t, quality.SCORING)
    worst = calibration.choose_policy(samples, judged, t, quality.SCORING, worst_set=True)
    assert pooled.answer <= 0.85 < worst.answer <= 0.95
    decided = [
        (s, calibration.decide_with(s, e, worst)) for s, e in zip(samples, judged, strict=True)
    ]
    small = quality._figures_of([d for d in decided if d[0].set == "small"])
    assert small["wrong"] == 0.0 and small["helped"] == 1.0
