"""bench/quality.py --by-lang: each question language's figures, and the foreign set."""

from __future__ import annotations

import json

from benches import bench

from knowledge.model import Action


def test_by_lang_groups_the_decisions_by_each_question_language() -> None:
    quality = bench("quality")
    sample = quality.calibration.Sample
    right = {"answer": [{"title": "x"}]}
    decided = [
        (sample("a", "1", right, "", (1.0,), (True,), 0.1), Action.ANSWER),
        (sample("a", "2", right, "", (1.0,), (False,), 0.1), Action.ANSWER),
        (sample("b", "1", right, "", (1.0,), (True,), 0.1), Action.ANSWER),
    ]
    langs = {("a", "1"): "en", ("a", "2"): "ro", ("b", "1"): "en"}
    rows = quality._by_lang(decided, langs)
    assert sorted(rows) == ["pool en", "pool ro"]
    assert rows["pool en"]["helped"] == 1.0 and rows["pool en"]["wrong"] == 0.0
    assert rows["pool ro"]["wrong"] == 1.0
    pooled = [s for s, _ in decided]
    assert quality._lang_counts(pooled, langs) == {"pool en": 2, "pool ro": 1}


def test_the_foreign_set_is_english_and_romanian_questions_with_a_right_entry() -> None:
    quality = bench("quality")
    _, cases = quality.load_set("foreign")
    assert {c["lang"] for c in cases} == {"en", "ro"}
    assert all(c["expect"]["answer"] for c in cases)
    assert len({c["id"] for c in cases}) == len(cases)
    assert json.loads(json.dumps(cases)) == cases


def test_without_languages_the_calibration_groups_nothing() -> None:
    # --calibrate without --by-lang passes no languages: no group, not a KeyError.
    quality = bench("quality")
    sample = quality.calibration.Sample("a", "1", {"answer": []}, "", (1.0,), (True,), 0.1)
    assert quality._by_lang([(sample, Action.ANSWER)], {}) == {}


def test_an_extension_appends_its_features_and_leaves_out_the_dropped_ones() -> None:
    quality = bench("quality")
    names = quality.FEATURES
    extension = quality.calibration.Extension(
        ("extra",), lambda kb, text: [float(len(text))], (names[0],)
    )
    assert extension.features() == (*names[1:], "extra")
    sample = quality.calibration.Sample
    shipped = tuple(float(n) for n in range(len(names)))
    ranked = sample("a", "1", {"answer": []}, "", shipped, (True,), 0.1)
    unranked = sample("a", "2", {"escalate": True}, "", (), (), 0.0)
    out = extension.extend(None, [ranked, unranked], [{"q": "abc"}, {"q": "x"}])
    assert out[0].x == (*shipped[1:], 3.0)
    assert out[1].x == ()  # nothing ranked: no features to add


def test_a_pool_without_some_of_its_sets_is_never_written() -> None:
    quality = bench("quality")
    assert "blind" in quality.SETS and quality.SETS["blind"].exists()
    try:
        quality.run_calibration(None, write=True, outside=["blind"])
    except ValueError as e:
        assert "never written" in str(e)
    else:
        raise AssertionError("--outside wrote confidence.json")
