"""Answer quality on every question set, in process, and the calibration of the confidence.

    python bench/quality.py [--set NAME|PATH ...] [--misses] [--by-lang]  # figures per set
    python bench/quality.py --calibrate [--dry-run] [--seeds N] [--by-lang] # cross-validate, fit

Scores exactly as ../shared/tools/evaluate.py does (helped, wrong, clarify, ood_answered beside
top1, recall3 and the rest), without a subprocess. --calibrate fits the calibrated confidence
(knowledge/confidence.py) on every set but the final check, pooled: it prints each set's figures
from the held-out folds of a cross-validation, the same with each set held out whole (models and
thresholds fitted on the other sets: the honest estimate for a new set), then the final check's
under the models fitted on the whole pool, and writes those models to
knowledge/data/confidence.json (--l2 and --thresholds-on try other fits, measured only).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Keep this folder off the path: the package `knowledge` must not be shadowed by a script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import calibration  # noqa: E402
from knowledge.base import KnowledgeBase, Thresholds  # noqa: E402
from knowledge.confidence import (  # noqa: E402
    CALIBRATION_FILE,
    FEATURES,
    Calibration,
    Estimate,
    Policy,
)
from knowledge.model import Action, Decision  # noqa: E402

# Every question set in the repository. The development set is also ../shared/eval/dev.jsonl;
# dev-uncovered is ../shared/eval/dev-uncovered.jsonl (common questions the base does not cover).
SETS: dict[str, Path] = {
    "dev": ROOT / "tests" / "data" / "dev.jsonl",
    # A blind set written outside the repository from the seeds alone (every kind and language,
    # 344 questions); after its blind check it joined the sets and, in round 14, the pool.
    "blind": ROOT / "bench" / "sets" / "blind.jsonl",
    # A second blind set, written apart from the first the same night (349 questions), kept the
    # same way after its one blind check (docs/quality.md, rounds 13 and 14).
    "blind2": ROOT / "bench" / "sets" / "blind2.jsonl",
    # A third, written apart from the seeds alone in the 2026-12-07 evening session (371
    # questions, mostly paraphrases); scored once blind for the refit of round 15, then kept.
    "blind3": ROOT / "bench" / "sets" / "blind3.jsonl",
    # A fourth, written the same way in the 2026-12-08 session (376 questions); scored once blind
    # for the entries' extra questions of round 16, then kept, not pooled yet.
    "blind4": ROOT / "bench" / "sets" / "blind4.jsonl",
    # A fifth, written the same way later that session (373 questions): round 16's second unseen
    # check (and the one check of round 16's dropped confidence feature); kept, not pooled.
    "blind5": ROOT / "bench" / "sets" / "blind5.jsonl",
    "dev-uncovered": ROOT / "bench" / "sets" / "dev-uncovered.jsonl",
    # English and Romanian questions about Russian help-desk articles, written from the
    # articles' text (issue 11: the other sets hold few of them).
    "foreign": ROOT / "bench" / "sets" / "foreign.jsonl",
    # Requests for a human and product questions about operators, staff and support, written
    # apart from operator.jsonl (before reading it or intents.txt) to check the requests'
    # mechanism on wording it was not made from.
    "handoff": ROOT / "bench" / "sets" / "handoff.jsonl",
    "heldout": ROOT / "bench" / "heldout.jsonl",
    # Requests for a human in Russian, English and Romanian, however worded, beside product
    # questions about operators, staff and support that must stay questions.
    "operator": ROOT / "bench" / "sets" / "operator.jsonl",
    "realistic": ROOT / "bench" / "sets" / "realistic.jsonl",
    "uncovered": ROOT / "bench" / "sets" / "uncovered.jsonl",
}
# Kept out of every fit and every choice made while tuning: the last, honest check.
FINAL_CHECK = "heldout"
# Scored but not pooled for the calibration, shown beside the final check: the requests-for-a-human
# set (its questions about operators would weigh one topic in the confidence's fit), and the
# newest blind set until a refit takes it (so that `--calibrate` writes what is stored). The
# earlier blind sets joined the pool once their blind checks were done (docs/quality.md, rounds 14
# and 15).
UNPOOLED = ("handoff", "blind4", "blind5")
COLUMNS = (
    "helped",
    "wrong",
    "clarify",
    "false_escalate",
    "ood_answered",
    "top1",
    "recall3",
    "escalate_acc",
    "operator_acc",
    "smalltalk_acc",
    "choices",
)

# One question's outcome: what it expected, the action taken, and whether each of the first
# three matches shown is right.
Outcome = tuple[dict, str, Sequence[bool]]


def _norm_title(s: str) -> str:
    s = (s or "").casefold().replace("ё", "е")
    return " ".join(re.sub(r"[^\w]+", " ", s).split())


def _norm_url(s: str) -> str:
    s = re.sub(r"^https?://", "", (s or "").strip().lower())
    return re.sub(r"^www\.", "", s).rstrip("/")


def hit(title: str, url: str, targets: list[dict[str, str]]) -> bool:
    """A match is right when its title or its helpdesk url is a target's (evaluate.py's rule)."""
    for target in targets:
        if title and _norm_title(title) == _norm_title(target.get("title", "")):
            return True
        u = _norm_url(url)
        if u and target.get("url") and u == _norm_url(target["url"]) and "/open/" in u:
            return True
    return False


# What one question adds to the figures (:func:`tally`), in this order.
TALLY = (
    "answerable",
    "top1",
    "recall3",
    "false_escalate",
    "helped",
    "wrong",
    "clarify",
    "ood_answered",
    *(f"{kind}_{n}" for kind in ("escalate", "operator", "smalltalk") for n in ("n", "ok")),
    "asked",
    "choices",
)
_AT = {name: n for n, name in enumerate(TALLY)}
_ANSWERABLE_RATES = ("top1", "recall3", "false_escalate", "helped", "wrong", "clarify")


def tally(expect: dict, action: str, hits: Sequence[bool]) -> tuple[int, ...]:
    """One question's counts towards evaluate.py's figures (:data:`TALLY`): figures are
    sums of these, so the calibration can add them up instead of re-scoring every question."""
    out = [0] * len(TALLY)
    if action == "clarify":
        out[_AT["asked"]] = 1
        out[_AT["choices"]] = len(hits)
    if "answer" in expect:
        top1 = action == "answer" and bool(hits) and hits[0]
        at3 = action in ("answer", "clarify") and any(hits[:3])
        out[_AT["answerable"]] = 1
        out[_AT["top1"]] = top1
        out[_AT["recall3"]] = at3
        out[_AT["false_escalate"]] = action in ("escalate", "operator")
        out[_AT["helped"]] = top1 or (at3 and action == "clarify")
        out[_AT["wrong"]] = action == "answer" and not top1
        out[_AT["clarify"]] = action == "clarify"
    else:
        want = next(k for k in ("escalate", "operator", "smalltalk") if expect.get(k))
        out[_AT[f"{want}_n"]] = 1
        out[_AT[f"{want}_ok"]] = action == want
        out[_AT["ood_answered"]] = want == "escalate" and action == "answer"
    return tuple(out)


def rates(totals: Sequence[int]) -> dict[str, float]:
    """evaluate.py's figures from summed tallies: the answerable questions' rates, then each
    other kind's."""
    a = max(totals[_AT["answerable"]], 1)
    out = {k: totals[_AT[k]] / a for k in _ANSWERABLE_RATES}
    if totals[_AT["escalate_n"]]:
        out["ood_answered"] = totals[_AT["ood_answered"]] / totals[_AT["escalate_n"]]
    for kind in ("escalate", "operator", "smalltalk"):
        if n := totals[_AT[f"{kind}_n"]]:
            out[f"{kind}_acc"] = totals[_AT[f"{kind}_ok"]] / n
    if asked := totals[_AT["asked"]]:
        # Not evaluate.py's: how many entries a «did you mean» offers, on average (every
        # question asked about, in scope or not).
        out["choices"] = totals[_AT["choices"]] / asked
    return out


def figures(outcomes: Iterable[Outcome]) -> dict[str, float]:
    """evaluate.py's figures of the outcomes."""
    totals = [0] * len(TALLY)
    for outcome in outcomes:
        for n, v in enumerate(tally(*outcome)):
            totals[n] += v
    return rates(totals)


def decision_outcome(expect: dict, d: Decision) -> Outcome:
    hits = [hit(m.entry.title, m.entry.url, expect.get("answer", [])) for m in d.matches[:3]]
    return expect, d.action.value, hits


def score(cases: Sequence[dict], decisions: Sequence[Decision]) -> dict[str, float]:
    """The figures of decisions made in process (KnowledgeBase.decide)."""
    return figures(decision_outcome(c["expect"], d) for c, d in zip(cases, decisions, strict=True))


def load_set(name_or_path: str) -> tuple[str, list[dict]]:
    path = SETS.get(name_or_path, Path(name_or_path))
    with path.open(encoding="utf-8") as lines:
        return (name_or_path, [json.loads(line) for line in lines if line.strip()])


def available_sets() -> list[str]:
    return [name for name, path in SETS.items() if path.exists()]


def pool_sets() -> list[str]:
    """The sets fitted and chosen on: every set but the final check and :data:`UNPOOLED`."""
    return [n for n in available_sets() if n != FINAL_CHECK and n not in UNPOOLED]


def print_table(rows: dict[str, dict[str, float]], counts: dict[str, int]) -> None:
    shown = [c for c in COLUMNS if any(c in r for r in rows.values())]
    print(f"{'set':<16}{'n':>5} " + " ".join(f"{c[:14]:>14}" for c in shown))
    for name, row in rows.items():
        cells = " ".join(f"{row[c]:>14.3f}" if c in row else f"{'-':>14}" for c in shown)
        print(f"{name:<16}{counts[name]:>5} {cells}")


def _misses(cases: Sequence[dict], decisions: Sequence[Decision]) -> None:
    for case, d in zip(cases, decisions, strict=True):
        expect, action, hits = decision_outcome(case["expect"], d)
        if "answer" in expect:
            ok = action == "answer" and bool(hits) and hits[0]
            want = expect["answer"][0]["title"][:60]
        else:
            want = next(k for k in ("escalate", "operator", "smalltalk") if expect.get(k))
            ok = action == want
        if not ok:
            got = [f"{m.entry.title[:50]} ({m.score:.2f})" for m in d.matches[:3]]
            print(f"{case['id']} [{case['kind']}] {case['q'][:90]!r}")
            print(f"   -> {action} p={d.confidence:.2f} {got}\n   want {want}")


def _by_lang(
    decided: Sequence[tuple[calibration.Sample, Action]], langs: dict[tuple[str, str], str]
) -> dict[str, dict[str, float]]:
    """The pool's figures for each language of the questions (a case's "lang")."""
    groups: dict[str, list[tuple[calibration.Sample, Action]]] = {}
    for d in decided if langs else ():
        groups.setdefault(f"pool {langs[d[0].set, d[0].case_id]}", []).append(d)
    return {name: _figures_of(group) for name, group in sorted(groups.items())}


def run_calibration(
    kb: KnowledgeBase,
    write: bool,
    seeds: int = 1,
    by_lang: bool = False,
    extension: calibration.Extension | None = None,
    l2: float = calibration.L2,
    thresholds_on: str = calibration.THRESHOLDS_FROM,
    outside: Sequence[str] = (),
) -> None:
    if extension is not None and write:
        raise ValueError("features tried are measured, never written")
    if outside and write:
        raise ValueError("a pool without some of its sets is measured, never written")
    names = available_sets()
    # Sets kept out of the pool are judged, as the final check is, by what the pool chose.
    pool = [n for n in pool_sets() if n not in outside]
    checks = [FINAL_CHECK, *UNPOOLED, *outside]
    cases = {n: load_set(n)[1] for n in names}
    samples = {n: calibration.collect(kb, n, cases[n], hit) for n in names}
    if extension is not None:
        samples = {n: extension.extend(kb, samples[n], cases[n]) for n in names}
    features = extension.features() if extension is not None else FEATURES
    # Each question's language, for --by-lang.
    langs = {(n, c["id"]): c.get("lang", "ru") for n in names for c in cases[n]} if by_lang else {}
    kinds = {(n, c["id"]): c.get("kind", "") for n in names for c in cases[n]}
    pooled = [s for n in pool for s in samples[n]]
    judged = calibration.estimates(pooled, calibration.cross_validated(pooled, l2=l2))
    t = Thresholds()
    actions, chosen = calibration.nested_decisions(
        pooled, judged, t, SCORING, thresholds_on=thresholds_on, l2=l2
    )
    bounds = ", ".join(f"{k} <= {v}" for k, v in calibration.BOUNDS.items())
    print(f"pool: {', '.join(pool)}; never fitted on: {', '.join(checks)}")
    print(f"policy: the most helped with {bounds} (the first three must hold)")
    print(f"ridge L2 {l2}; thresholds chosen on the held-out estimates of: {thresholds_on}")
    print(
        "thresholds chosen on the other folds (answer / choose): "
        + ", ".join(f"{p.answer:.2f} / {p.clarify:.2f}" for p in chosen)
    )
    print(f"\nheld-out folds ({calibration.FOLDS}-fold, stratified by set; models and thresholds")
    print("fitted on the other folds):")
    decided = list(zip(pooled, actions, strict=True))
    rows = {n: _figures_of([d for d in decided if d[0].set == n]) for n in pool}
    rows["pool"] = _figures_of(decided)
    counts = {n: len(samples[n]) for n in pool} | {"pool": len(pooled)}
    rows |= _by_lang(decided, langs)
    counts |= _lang_counts(pooled, langs)
    print_table(rows, counts)
    # The left-out sets are compared with the folds averaged over as many splits.
    stratified = rows["pool"]
    if seeds > 1:
        stratified = _over_seeds(pooled, pool, seeds, t, langs, thresholds_on, l2)
    out_judged, out_actions = _sets_out(
        pooled, pool, max(seeds, 1), t, stratified, thresholds_on, l2
    )
    print("log-loss of P(top1) by set, held-out folds | each set left out:")
    for name in pool:
        print(
            f"  {name:<16}"
            + " | ".join(
                f"{_mean_log_loss([s for s in pooled if s.set == name], by, pooled):.4f}"
                for by in (judged, out_judged)
            )
        )
    print("\nreliability of the held-out estimates (pool): predicted vs observed")
    _reliability(pooled, judged)
    print("\nthe same with each set left out (models fitted on the other sets):")
    _reliability(pooled, out_judged)
    print("\nP(top1) by kind of question (answerable ones): share right first, mean estimate")
    print("on held-out folds and with each set left out; then, of those answered with each set")
    print("left out (first split), how many, their mean estimate and the share right")
    _reliability_by_kind(pooled, judged, out_judged, out_actions, kinds)
    policy = calibration.choose_policy(
        pooled,
        judged
        if thresholds_on == "folds"
        else calibration.estimates(pooled, calibration.left_out_sets(pooled, l2)),
        t,
        SCORING,
        worst_set=thresholds_on == "worst",
    )
    print("\npooled held-out figures under other policies (answer at / choose at):")
    grid = {
        f"{a:.2f} / {c:.2f}": _figures_of(
            _decide_all(pooled, judged, replace(t, answer=a, clarify=c))
        )
        for a in (policy.answer - 0.1, policy.answer, policy.answer + 0.1)
        for c in (policy.clarify - 0.05, policy.clarify, policy.clarify + 0.1)
    }
    print_table(grid, dict.fromkeys(grid, len(pooled)))
    model = replace(calibration.fit(pooled, l2), policy=Policy(policy.answer, policy.clarify))
    print(
        f"\nchosen on the whole pool: answer at {policy.answer:.2f}, choose at {policy.clarify:.2f}"
    )
    if checks := [n for n in checks if n in samples]:
        rows = {}
        for name in checks:
            final = calibration.estimates(samples[name], [model] * len(samples[name]))
            rows[name] = _figures_of(_decide_all(samples[name], final, policy))
        print("\nfinal check (and the sets kept out of the pool), models and thresholds chosen")
        print("on the whole pool:")
        print_table(rows, {n: len(samples[n]) for n in checks})
    print("\nweights (per standard deviation):   P(top1)   P(in top 3)")
    for n, a, b in zip(features, model.top1.weights, model.top3.weights, strict=True):
        print(f"  {n:<32} {a:>8.3f} {b:>11.3f}")
    if write:
        CALIBRATION_FILE.write_text(
            json.dumps(model.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"\nwritten {CALIBRATION_FILE.relative_to(ROOT)}")


def _lang_counts(
    pooled: Sequence[calibration.Sample], langs: dict[tuple[str, str], str]
) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in pooled if langs else ():
        name = f"pool {langs[s.set, s.case_id]}"
        out[name] = out.get(name, 0) + 1
    return out


def _over_seeds(
    pooled: Sequence[calibration.Sample],
    pool: Sequence[str],
    seeds: int,
    t: Thresholds,
    langs: dict[tuple[str, str], str] | None = None,
    thresholds_on: str = calibration.THRESHOLDS_FROM,
    l2: float = calibration.L2,
) -> dict[str, float]:
    """The held-out folds' figures averaged over other ways of dealing the folds: one split
    moves a set's figures by a question or two, which is what a change must beat. Returns the
    pool's."""
    totals: dict[str, dict[str, float]] = {}
    loss = 0.0
    for seed in range(calibration.SEED, calibration.SEED + seeds):
        judged = calibration.estimates(
            pooled, calibration.cross_validated(pooled, seed=seed, l2=l2)
        )
        actions, _ = calibration.nested_decisions(
            pooled, judged, t, SCORING, seed, thresholds_on, l2
        )
        decided = list(zip(pooled, actions, strict=True))
        rows = {n: _figures_of([d for d in decided if d[0].set == n]) for n in pool}
        rows["pool"] = _figures_of(decided)
        rows |= _by_lang(decided, langs or {})
        for name, row in rows.items():
            for column, value in row.items():
                totals.setdefault(name, {}).setdefault(column, 0.0)
                totals[name][column] += value / seeds
        losses = [
            _log_loss(e.top1, s.top1)
            for s, e in zip(pooled, judged, strict=True)
            if s.x and not s.intent
        ]
        loss += sum(losses) / len(losses)
    print(f"\nheld-out folds averaged over {seeds} ways of dealing them:")
    counts = {n: sum(s.set == n for s in pooled) for n in pool} | {"pool": len(pooled)}
    print_table(totals, counts | _lang_counts(pooled, langs or {}))
    print(f"held-out log-loss of P(top1), averaged: {loss / seeds:.4f}")
    return totals["pool"]


def _sets_out(
    pooled: Sequence[calibration.Sample],
    pool: Sequence[str],
    seeds: int,
    t: Thresholds,
    stratified: dict[str, float],
    thresholds_on: str,
    l2: float,
) -> tuple[list[Estimate], list[Action]]:
    """Leave-one-set-out: each set decided by models fitted on the other sets and thresholds
    chosen on theirs (averaged over ``seeds`` inner fold splits when those are chosen on
    stratified folds), printed with the pool's difference from the stratified folds: folds
    stratified by set share each set's style between fitting and judging, so they promise
    more than a new set gets. Returns the left-out sets' estimates and actions (first split)."""
    runs = seeds if thresholds_on == "folds" else 1
    totals: dict[str, dict[str, float]] = {}
    chosen: dict[str, list[Thresholds]] = {}
    judged: list[Estimate] = []
    first: list[Action] = []
    for seed in range(calibration.SEED, calibration.SEED + runs):
        actions, judged, policies = calibration.set_out_decisions(
            pooled, t, SCORING, thresholds_on, l2, seed
        )
        first = first or actions
        decided = list(zip(pooled, actions, strict=True))
        rows = {n: _figures_of([d for d in decided if d[0].set == n]) for n in pool}
        rows["pool"] = _figures_of(decided)
        for name, row in rows.items():
            for column, value in row.items():
                totals.setdefault(name, {}).setdefault(column, 0.0)
                totals[name][column] += value / runs
        for name, p in policies.items():
            chosen.setdefault(name, []).append(p)
    print(
        f"\neach set held out whole (models fitted on the other sets, thresholds chosen on their"
        f" held-out estimates; {runs} inner split(s)):"
    )
    print(
        "thresholds (answer / choose), the first split's: "
        + ", ".join(f"{n} {p[0].answer:.2f} / {p[0].clarify:.2f}" for n, p in chosen.items())
    )
    counts = {n: sum(s.set == n for s in pooled) for n in pool} | {"pool": len(pooled)}
    print_table(totals, counts)
    pool_row = totals["pool"]
    print(
        "pool, left-out sets minus stratified folds: "
        + ", ".join(
            f"{c} {pool_row[c] - stratified[c]:+.3f}"
            for c in ("helped", "wrong", "clarify", "false_escalate", "ood_answered")
        )
    )
    print(f"log-loss of P(top1), each set left out: {_mean_log_loss(pooled, judged, pooled):.4f}")
    return judged, first


def _reliability_by_kind(
    samples: Sequence[calibration.Sample],
    folds: Sequence[Estimate],
    sets_out: Sequence[Estimate],
    actions: Sequence[Action],
    kinds: dict[tuple[str, str], str],
) -> None:
    groups: dict[str, list[float]] = {}
    for s, a, b, action in zip(samples, folds, sets_out, actions, strict=True):
        if s.intent or not s.x or "answer" not in s.expect:
            continue
        row = groups.setdefault(kinds.get((s.set, s.case_id), "") or "-", [0.0] * 7)
        answered = action == Action.ANSWER
        for n, v in enumerate((1, s.top1, a.top1, b.top1, answered, answered * b.top1)):
            row[n] += v
        row[6] += answered and s.top1
    head = f"{'kind':<12}{'n':>5} {'right':>6} {'est':>6} {'est':>6}   "
    print(head + f"{'answ':>5} {'est':>6} {'right':>6}")
    for kind, (n, right, a, b, m, p, r) in sorted(groups.items()):
        tail = f"{m:>5.0f} {p / m:>6.2f} {r / m:>6.2f}" if m else f"{0:>5}"
        print(f"{kind:<12}{n:>5.0f} {right / n:>6.2f} {a / n:>6.2f} {b / n:>6.2f}   {tail}")


def _mean_log_loss(
    some: Sequence[calibration.Sample],
    judged: Sequence[Estimate],
    pooled: Sequence[calibration.Sample],
) -> float:
    """The mean log-loss of P(top1) over ``some`` of the pooled samples, as ``judged``."""
    wanted = {id(s) for s in some}
    losses = [
        _log_loss(e.top1, s.top1)
        for s, e in zip(pooled, judged, strict=True)
        if id(s) in wanted and s.x and not s.intent
    ]
    return sum(losses) / max(len(losses), 1)


def _log_loss(p: float, right: bool) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return -math.log(p if right else 1 - p)


def _decide_all(
    samples: Sequence[calibration.Sample], judged: Sequence[Estimate], t: Thresholds
) -> list[tuple[calibration.Sample, Action]]:
    return [(s, calibration.decide_with(s, e, t)) for s, e in zip(samples, judged, strict=True)]


def _figures_of(decided: Sequence[tuple[calibration.Sample, Action]]) -> dict[str, float]:
    """evaluate.py's figures of decisions taken offline (a clarify shows the first three)."""
    return figures((s.expect, action.value, s.hits[:3]) for s, action in decided)


# The calibration's way of scoring decided samples (by summed tallies).
SCORING = calibration.Scoring(lambda s, a: tally(s.expect, a.value, s.hits[:3]), rates)


def _reliability(samples: Sequence[calibration.Sample], judged: Sequence[Estimate]) -> None:
    bins: dict[int, list[float]] = {}
    for s, estimate in zip(samples, judged, strict=True):
        if s.intent or not s.x:
            continue
        for which, p, right in (
            ("top1", estimate.top1, s.top1),
            ("top3", estimate.top3, s.in_top(3)),
        ):
            row = bins.setdefault(min(int(p * 10), 9), [0, 0, 0, 0, 0.0, 0.0])
            k = 0 if which == "top1" else 2
            row[k] += 1
            row[k + 1] += right
            row[4 + k // 2] += p
    print(f"{'P':>9} {'n top1':>7} {'est':>6} {'seen':>6}   {'n top3':>7} {'est':>6} {'seen':>6}")
    for b in sorted(bins):
        n1, r1, n3, r3, p1, p3 = bins[b]
        cells = [
            f"{n:>7} {(p / n if n else 0):>6.2f} {(r / n if n else 0):>6.2f}"
            for n, r, p in ((n1, r1, p1), (n3, r3, p3))
        ]
        print(f"{b / 10:>4.1f}-{(b + 1) / 10:<4.1f} {cells[0]}   {cells[1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", help="a set's name or path (default: all)")
    parser.add_argument("--misses", action="store_true", help="list what each set misses")
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="calibrate without writing")
    parser.add_argument(
        "--seeds", type=int, default=1, help="also average the held-out folds over N fold splits"
    )
    parser.add_argument(
        "--by-lang", action="store_true", help="also the figures of each question language"
    )
    parser.add_argument(
        "--l2", type=float, default=calibration.L2, help="the models' ridge (measured only)"
    )
    parser.add_argument(
        "--thresholds-on",
        choices=calibration.THRESHOLDS_ON,
        default=calibration.THRESHOLDS_FROM,
        help="choose the thresholds on stratified folds' or left-out sets' estimates",
    )
    parser.add_argument(
        "--outside",
        action="append",
        default=[],
        choices=[n for n in SETS if n != FINAL_CHECK],
        help="keep a set out of the pool, judged as the final check is (measured only)",
    )
    args = parser.parse_args()
    if args.calibrate:
        # The stored calibration may be for other features: fitting does not need it.
        kb = KnowledgeBase.load(calibration=Calibration.untrained())
        shipped = (args.l2, args.thresholds_on) == (calibration.L2, calibration.THRESHOLDS_FROM)
        if (not shipped or args.outside) and not args.dry_run:
            parser.error("--l2, --thresholds-on and --outside are measured with --dry-run only")
        run_calibration(
            kb,
            not args.dry_run,
            args.seeds,
            args.by_lang,
            l2=args.l2,
            thresholds_on=args.thresholds_on,
            outside=args.outside,
        )
        return 0
    kb = KnowledgeBase.load()
    rows: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    by_lang: dict[str, list[tuple[dict, Decision]]] = {}
    for name in args.set or available_sets():
        name, cases = load_set(name)
        decisions = [kb.decide(c["q"]) for c in cases]
        if args.misses:
            print(f"== {name}")
            _misses(cases, decisions)
        rows[name], counts[name] = score(cases, decisions), len(cases)
        for case, d in zip(cases, decisions, strict=True):
            if name != FINAL_CHECK and name not in UNPOOLED:
                by_lang.setdefault(f"pool {case.get('lang', 'ru')}", []).append((case, d))
    if args.by_lang:
        for lang, decided in sorted(by_lang.items()):
            rows[lang] = score([c for c, _ in decided], [d for _, d in decided])
            counts[lang] = len(decided)
    print_table(rows, counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
