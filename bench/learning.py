"""What learning from use gains, measured on questions it did not learn from.

    python bench/learning.py [--folds 2] [--set NAME ...]

Every answerable question of the sets is grouped by the entry it expects; entries asked about
two or more times are split, their questions alternately into two halves. One half is played
as people: each question is asked, and when the bot's reply offered the right entry (a «did you
mean» that lists it, or, after a wrong answer and «Не помогло», the next-best entries) the person
picks it; `bot.learning.suggest` groups those picks and a reviewer approves every suggestion.
The base is rebuilt with the approved phrasings, and the *other* half (paraphrases of the same
needs, never seen) is scored before and after; then the halves swap. Also printed: the learned
half itself (to show the phrasings took), the same with every question of the half approved
(an editor who also approves operators' pairings), and the out-of-scope questions, whose
ood_answered must not rise.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.quality import COLUMNS, available_sets, hit, load_set, score  # noqa: E402
from bot.learning import Pair, suggest  # noqa: E402
from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.loader import load_corpus  # noqa: E402
from knowledge.model import Action  # noqa: E402

CACHE = ROOT / "var" / "cache"
SHOWN = ("helped", "wrong", "clarify", "false_escalate", "top1", "recall3", "ood_answered")


def _entry_of(kb: KnowledgeBase, targets: list[dict[str, str]]) -> str | None:
    for entry in kb.entries:
        if hit(entry.title, entry.url, targets):
            return entry.id
    return None


def _picked(kb: KnowledgeBase, question: str, right: str) -> bool:
    """Whether a person could pick ``right`` from the bot's replies to ``question``."""
    decision = kb.decide(question)
    shown = [m.entry.id for m in decision.matches]
    if decision.action is Action.CLARIFY:
        return right in shown
    if decision.action is Action.ANSWER and shown and shown[0] != right:
        return right in [m.entry.id for m in kb.alternatives(question, {shown[0]})]
    return False


def _halves(cases: list[dict], kb: KnowledgeBase) -> tuple[list[dict], list[dict], list[dict]]:
    """The two halves of the entries asked twice or more, and every other case."""
    by_entry: dict[str, list[dict]] = defaultdict(list)
    rest = []
    for case in cases:
        targets = case["expect"].get("answer")
        entry_id = _entry_of(kb, targets) if targets else None
        if entry_id is None:
            rest.append(case)
        else:
            by_entry[entry_id].append(case | {"_entry": entry_id})
    halves: tuple[list[dict], list[dict]] = ([], [])
    for entry_id in sorted(by_entry):
        group = by_entry[entry_id]
        if len(group) < 2:
            rest += group
            continue
        for i, case in enumerate(group):
            halves[i % 2].append(case)
    return halves[0], halves[1], rest


def _learn(kb: KnowledgeBase, half: list[dict], *, every: bool) -> dict[str, list[str]]:
    """The phrasings a reviewer approves after ``half`` was played (all of them)."""
    now = datetime.now(UTC)
    pairs = [
        Pair(case["q"], case["_entry"], now)
        for case in half
        if every or _picked(kb, case["q"], case["_entry"])
    ]
    approved: dict[str, list[str]] = defaultdict(list)
    for suggestion in suggest(pairs, kb):
        approved[suggestion.entry_id] += [v.text for v in suggestion.variants]
    return dict(approved)


def _figures(kb: KnowledgeBase, cases: list[dict]) -> dict[str, float]:
    figures = score(cases, [kb.decide(case["q"]) for case in cases])
    if not any("answer" in case["expect"] for case in cases):  # only ood_answered means anything
        return {k: v for k, v in figures.items() if k == "ood_answered"}
    return figures


def _row(name: str, n: int, figures: dict[str, float]) -> str:
    cells = " ".join(f"{figures[c]:>8.3f}" if c in figures else f"{'-':>8}" for c in SHOWN)
    return f"{name:<34}{n:>5} {cells}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", help="question sets (default: all)")
    args = parser.parse_args()
    names = args.set or available_sets()
    cases = [case for name in names for case in load_set(name)[1]]
    base = KnowledgeBase.from_corpus(load_corpus(), CACHE)
    first, second, rest = _halves(cases, base)
    ood = [c for c in rest if c["expect"].get("escalate")]
    print(f"sets: {', '.join(names)}; halves of {len(first)} and {len(second)} questions")
    print(f"{'':<34}{'n':>5} " + " ".join(f"{c[:8]:>8}" for c in SHOWN))
    assert all(c in COLUMNS for c in SHOWN if c != "ood_answered")
    for fold, (learned, unseen) in enumerate(((first, second), (second, first)), 1):
        print(f"fold {fold}: learn from {len(learned)}, score {len(unseen)} unseen paraphrases")
        print(_row("  unseen, before", len(unseen), _figures(base, unseen)))
        for every in (False, True):
            approved = _learn(base, learned, every=every)
            kb = KnowledgeBase.from_corpus(load_corpus(phrasings=approved), CACHE)
            label = "every question approved" if every else "picks approved"
            count = sum(len(v) for v in approved.values())
            print(f"  {label}: {count} phrasings of {len(approved)} entries")
            print(_row("    unseen, after", len(unseen), _figures(kb, unseen)))
            print(_row("    learned half, before", len(learned), _figures(base, learned)))
            print(_row("    learned half, after", len(learned), _figures(kb, learned)))
            print(_row("    out of scope, before", len(ood), _figures(base, ood)))
            print(_row("    out of scope, after", len(ood), _figures(kb, ood)))


if __name__ == "__main__":
    main()
