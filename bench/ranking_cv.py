"""Ranking variants chosen by cross-validation: which one puts the right entry first most often
on questions its choice never saw?

    python bench/ranking_cv.py EXPERIMENT [--folds 5] [--seeds 3] [--final-check]
    python bench/ranking_cv.py EXPERIMENT --decide VARIANT [--seeds 4] [--choice-share 0.6]

Each variant (matcher weights, index field weights) ranks every answerable question of the pool
(every set but the final check) once; then, for each fold of a split stratified by set, the
variant with the most right entries first (then in the first three) on the other folds is
chosen and judged on that fold. Prints each variant's counts per set, and the held-out counts of
the variants chosen beside the shipped ones. With --final-check, also the final check's counts
under each variant (look, never choose by it). With --decide, one variant's ranking goes through
the calibration's nested cross-validation instead (bench/quality.py --calibrate --dry-run): what a
person would get with it, models and thresholds refitted, nothing written.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.quality import (  # noqa: E402
    FINAL_CHECK,
    hit,
    load_set,
    pool_sets,
    run_calibration,
)
from knowledge import index as index_module  # noqa: E402
from knowledge import matcher as matcher_module  # noqa: E402
from knowledge import ordering as ordering_module  # noqa: E402
from knowledge import scoring as scoring_module  # noqa: E402
from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.confidence import Calibration  # noqa: E402
from knowledge.index import Index  # noqa: E402
from knowledge.matcher import Matcher  # noqa: E402
from knowledge.query import Query  # noqa: E402
from knowledge.scoring import Likeness, Weights  # noqa: E402

DEPTH = 10


@dataclass(frozen=True, slots=True)
class Case:
    set: str
    query: Query
    right: frozenset[int]


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    weights: Weights
    fields: tuple[tuple[str, float], ...] = ()
    # The ranking's module constants (knowledge.matcher's, .ordering's), for this variant.
    constants: tuple[tuple[str, int], ...] = ()
    likeness: Likeness | None = None  # a second kind of evidence (bench/evidence.py)


def load_cases(kb: KnowledgeBase, names: Sequence[str]) -> list[Case]:
    cases = []
    for name in names:
        name, rows = load_set(name)
        for row in rows:
            targets = row["expect"].get("answer")
            if not targets:
                continue
            reading = kb.read(row["q"])
            if reading.intent.kind:
                continue
            right = frozenset(n for n, e in enumerate(kb.entries) if hit(e.title, e.url, targets))
            cases.append(Case(name, reading.query, right))
    return cases


def places(matcher: Matcher, cases: Sequence[Case]) -> list[int]:
    """Where each question's first right entry stands (DEPTH when not in the first DEPTH)."""
    out = []
    for case in cases:
        ranked = matcher.rank_raw(case.query, DEPTH)
        out.append(next((i for i, r in enumerate(ranked) if r.doc in case.right), DEPTH))
    return out


def run_variants(
    kb: KnowledgeBase, variants: Sequence[Variant], cases: Sequence[Case]
) -> dict[str, list[int]]:
    built: dict[tuple[tuple[str, float], ...], Index] = {}
    shipped = dict(index_module.FIELD_WEIGHTS)
    out = {}
    for v in variants:
        if v.fields not in built:
            index_module.FIELD_WEIGHTS.clear()
            index_module.FIELD_WEIGHTS.update(shipped | dict(v.fields))
            built[v.fields] = Index(kb.entries, kb._analyzer) if v.fields else kb._index
            index_module.FIELD_WEIGHTS.clear()
            index_module.FIELD_WEIGHTS.update(shipped)
        saved = {name: getattr(_owner(name), name) for name, _ in v.constants}
        _set_constants(v.constants)
        out[v.name] = places(Matcher(built[v.fields], v.weights, v.likeness), cases)
        _set_constants(tuple(saved.items()))
    return out


# The modules of the ranking whose constants a variant may set. The index's own (PREFIX_FACTOR,
# which the matcher imports as a copy) reaches the indexes built after it is set: a variant's
# with field weights.
_CONSTANT_MODULES = (index_module, matcher_module, ordering_module, scoring_module)


def _owner(name: str) -> ModuleType:
    """A ranking module that holds a constant (each holder has the same value); a name none
    holds (misspelt, or owned elsewhere) is an error that says so."""
    owner = next((m for m in _CONSTANT_MODULES if name in vars(m)), None)
    if owner is None:
        held = ", ".join(m.__name__ for m in _CONSTANT_MODULES)
        raise ValueError(f"{name} is a constant of none of the ranking modules ({held})")
    return owner


def _set_constants(constants: tuple[tuple[str, int], ...]) -> None:
    """Each constant set in every ranking module that holds it (one that imported it holds a
    copy of its own)."""
    for name, value in constants:
        for module in _CONSTANT_MODULES:
            if name in vars(module):
                setattr(module, name, value)


def _install(kb: KnowledgeBase, v: Variant) -> None:
    """The knowledge base ranks as the variant does from now on (its constants set for good):
    field weights change no key, so the question reader and the vocabulary stay."""
    _set_constants(v.constants)
    index_module.FIELD_WEIGHTS.update(dict(v.fields))
    if v.fields:
        kb._index = Index(kb.entries, kb._analyzer)
    kb._matcher = Matcher(kb._index, v.weights, v.likeness)


def _gain(at: Sequence[int], rows: Sequence[int]) -> tuple[int, int]:
    return sum(at[i] == 0 for i in rows), sum(at[i] < 3 for i in rows)


def cross_validate(
    results: dict[str, list[int]], cases: Sequence[Case], folds: int, seed: int
) -> tuple[list[int], Counter[str]]:
    """Held-out places of the variant chosen on the other folds, and how often each was chosen."""
    by_set: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(cases):
        by_set[c.set].append(i)
    fold_of = [0] * len(cases)
    rng = random.Random(seed)
    for rows in by_set.values():
        rows = rows[:]
        rng.shuffle(rows)
        for n, i in enumerate(rows):
            fold_of[i] = n % folds
    held = [DEPTH] * len(cases)
    chosen = Counter[str]()
    for f in range(folds):
        train = [i for i in range(len(cases)) if fold_of[i] != f]
        best = max(results, key=lambda name: _gain(results[name], train))
        chosen[best] += 1
        for i in range(len(cases)):
            if fold_of[i] == f:
                held[i] = results[best][i]
    return held, chosen


def table(rows: dict[str, list[int]], cases: Sequence[Case], sets: Sequence[str]) -> None:
    print(f"{'variant':<34}" + "".join(f"{s[:10]:>14}" for s in (*sets, "pool")))
    for name, at in rows.items():
        cells = []
        for s in (*sets, "pool"):
            idx = [i for i, c in enumerate(cases) if s == "pool" or c.set == s]
            t1, t3 = _gain(at, idx)
            cells.append(f"{t1:>4}/{t3:<4}({len(idx):>3})")
        print(f"{name[:34]:<34}" + "".join(f"{c:>14}" for c in cells))


def main(experiments: dict[str, Callable[[], list[Variant]]]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=sorted(experiments))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--final-check", action="store_true")
    parser.add_argument("--decide", metavar="VARIANT", help="nested CV of one variant's decisions")
    parser.add_argument(
        "--choice-share",
        type=float,
        metavar="SHARE",
        help="with --decide: a «did you mean» offers entries scored at least this share of the "
        "first one's (Thresholds.choice_share; 0 offers the first three whatever they score)",
    )
    args = parser.parse_args()
    if args.decide:
        kb = KnowledgeBase.load()
        (variant,) = [v for v in experiments[args.experiment]() if v.name == args.decide]
        _install(kb, variant)
        if args.choice_share is not None:
            kb.thresholds = replace(kb.thresholds, choice_share=args.choice_share)
        run_calibration(kb, write=False, seeds=args.seeds)
        return 0
    kb = KnowledgeBase.load(calibration=Calibration.untrained())
    sets = pool_sets()
    cases = load_cases(kb, sets)
    vs = experiments[args.experiment]()
    results = run_variants(kb, vs, cases)
    table(results, cases, sets)
    print()
    rows = {"shipped": results[vs[0].name]}
    for seed in range(args.seeds):
        held, chosen = cross_validate(results, cases, args.folds, seed)
        rows[f"cv seed {seed}"] = held
        print(f"seed {seed} chose: {dict(chosen)}")
    table(rows, cases, sets)
    if args.final_check:
        final = load_cases(kb, [FINAL_CHECK])
        print()
        table(run_variants(kb, vs, final), final, [FINAL_CHECK])
    return 0


def field_variants() -> list[Variant]:
    """Index field weights one at a time, and the score's four parts shifted pairwise."""
    base = Weights()
    out = [Variant("shipped", base)]
    grid = {
        "title": (2.0, 4.0),
        "questions": (1.5, 3.5),
        "breadcrumb": (0.4, 1.5),
        "path": (0.6, 2.0),
        "summary": (0.6, 2.0),
        "body": (0.7, 1.4),
    }
    for field, values in grid.items():
        for value in values:
            out.append(Variant(f"field {field}={value}", base, ((field, value),)))
    parts = ("bm25", "coverage", "head", "fuzzy")
    for up, down in itertools.permutations(parts, 2):
        for d in (0.05, 0.1):
            w = replace(base, **{up: getattr(base, up) + d, down: getattr(base, down) - d})
            out.append(Variant(f"{up}+{d} {down}-{d}", w))
    return out


def knob_variants() -> list[Variant]:
    """The matcher's constants and the score's evidence and product-name factors. (Passage
    windows, idf to a power and coverage to a power were measured with knobs the matcher no
    longer has: commit d4fe776.)"""
    base = Weights()
    out = [Variant("shipped", base)]
    for n in (10, 20):
        out.append(Variant(f"NEAR_RIVALS {n}", base, (), (("NEAR_RIVALS", n),)))
    for n in (8, 16):
        out.append(Variant(f"SCORED_KEYS {n}", base, (), (("SCORED_KEYS", n),)))
    for v in (0.3, 1.0):
        out.append(Variant(f"evidence_head_bonus {v}", replace(base, evidence_head_bonus=v)))
    for v in (0.5, 1.5):
        out.append(Variant(f"evidence_power {v}", replace(base, evidence_power=v)))
    for v in (0.7, 1.5):
        out.append(Variant(f"evidence_mass {v}", replace(base, evidence_mass=v)))
    for v in (0.25, 0.75):
        out.append(Variant(f"name_penalty {v}", replace(base, name_penalty=v)))
    return out


EXPERIMENTS = {"fields": field_variants, "knobs": knob_variants}


if __name__ == "__main__":
    sys.exit(main(EXPERIMENTS))
