"""What the slow replies of a steady run share: `python bench/tail.py TRACE [TRACE ...]`.

TRACE is the stem bench/load.py --trace wrote (``<folder>/steady-HHMMSS``): ``TRACE.fake.jsonl``
(each text: handed to the fake, POSTed to the webhook, its reply's sendMessage arrived) and
``TRACE.0.events.jsonl`` (the helpbot process's own timestamps, bench/tail_trace.py). Each
text's time is cut into stages:

    queue   the fake held it (the chat's previous update not yet acknowledged)
    post    the fake began the POST -> the bot's webhook handler stores it
    store   the webhook's store (its commit; group commit with the stores beside it)
    wait    stored -> the inbox worker begins its turn (the pass in progress, the chat semaphore)
    turn    the turn, its commit included
    hand    the turn's end -> its reply handed to (reserved) or claimed by the outbox worker
    out     handed/claimed -> the outbox worker begins the call
    send    the call until the fake has it

``reply`` (the figure bench/load.py's percentiles are of) runs from the POST to the reply. For
the slowest replies it prints their stages and what overlapped them: SQLite commits that wrote
the main file (a WAL checkpoint), the longest commit and write-lock wait, collections, the event
loop's lateness.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

STAGES = ("queue", "post", "store", "wait", "turn", "hand", "out", "send")
SLOWEST = 0.02  # the share of replies listed one by one


def _pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100)[q - 1]


def _load(stem: Path) -> tuple[list[dict[str, Any]], dict[str, list[list[Any]]]]:
    fake = [json.loads(line) for line in stem.with_suffix(".fake.jsonl").open()]
    events: dict[str, list[list[Any]]] = defaultdict(list)
    for path in sorted(stem.parent.glob(stem.name + ".*.events.jsonl")):
        for line in path.open():
            with_kind = json.loads(line)
            events[with_kind[0]].append(with_kind[1:])
    return fake, events


def _texts(fake: list[dict[str, Any]], events: dict[str, list[list[Any]]]) -> list[dict[str, Any]]:
    at: dict[str, dict[Any, float]] = defaultdict(dict)
    for kind in ("recv", "stored", "turn0", "turn1"):
        for event in events[kind]:
            at[kind].setdefault(str(event[1]), event[0])
    out_at: dict[int, float] = {}
    for kind in ("handed", "claimed"):
        for t, rows in events[kind]:
            for row_id, _chat in rows:
                out_at.setdefault(row_id, t)
    sends: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for t, row_id, chat, method in events["send0"]:
        if method == "sendMessage":
            sends[str(chat)].append((t, row_id))
    chats: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for text in fake:
        chats[text["chat"]].append(text)
    texts = []
    for chat, rows in chats.items():
        mine = sends.get(str(chat), [])
        for k, text in enumerate(rows):
            key = str(text["update"])
            send0, row_id = mine[k] if k < len(mine) else (None, None)
            marks = {
                "pushed": text["pushed"], "started": text["started"],
                "recv": at["recv"].get(key), "stored": at["stored"].get(key),
                "turn0": at["turn0"].get(key), "turn1": at["turn1"].get(key),
                "outbox": out_at.get(row_id) if row_id is not None else None,
                "send0": send0, "replied": text["replied"],
            }  # fmt: skip
            texts.append(marks | {"update": text["update"]})
    return texts


def _stages(m: dict[str, Any]) -> dict[str, float | None]:
    order = ("pushed", "started", "recv", "stored", "turn0", "turn1", "outbox", "send0", "replied")
    result: dict[str, float | None] = {}
    for stage, (a, b) in zip(STAGES, pairwise(order), strict=True):
        result[stage] = None if m[a] is None or m[b] is None else (m[b] - m[a]) * 1000
    if m["replied"] is not None:
        result["reply"] = (m["replied"] - m["started"]) * 1000
    return result


def _overlap(events: list[list[Any]], a: float, b: float, start: int = 0, end: int = 1) -> list:
    return [e for e in events if e[end] >= a and e[start] <= b]


def report(stem: Path) -> None:
    fake, events = _load(stem)
    texts = [t for t in _texts(fake, events) if t["replied"] is not None]
    rows = [(t, _stages(t)) for t in texts]
    print(f"== {stem.name}: {len(texts)} replies of {len(fake)} texts")
    print(f"{'ms':<8}" + "".join(f"{q:>9}" for q in ("p50", "p90", "p99", "max", "mean")))
    for stage in (*STAGES, "reply"):
        values = [s[stage] for _, s in rows if s.get(stage) is not None]
        cells = [_pct(values, 50), _pct(values, 90), _pct(values, 99)]
        cells += [max(values, default=float("nan")), statistics.fmean(values) if values else 0]
        print(f"{stage:<8}" + "".join(f"{c:>9.1f}" for c in cells))
    commits = events["commit"]
    durations = sorted((e[1] - e[0]) * 1000 for e in commits)
    background = events["checkpoint"]  # the server's task's: the main file changes meanwhile
    checkpoints = [e for e in commits if e[2] and not _overlap(background, e[0], e[1])]
    locks = sorted((e[1] - e[0]) * 1000 for e in events["lock"])
    print(
        f"commits {len(commits)}: p50 {_pct(durations, 50):.1f} p99 {_pct(durations, 99):.1f}"
        f" max {max(durations, default=0):.1f} ms; wrote the main file (checkpoint):"
        f" {len(checkpoints)}, "
        + ", ".join(f"{(e[1] - e[0]) * 1000:.0f}" for e in checkpoints)
        + " ms"
    )
    if background:
        took = sorted((e[1] - e[0]) * 1000 for e in background)
        print(
            f"checkpoints of the server's task: {len(background)}, p50 {_pct(took, 50):.1f}"
            f" max {took[-1]:.1f} ms, {sum(e[4] for e in background)} frames copied"
        )
    print(
        f"BEGIN IMMEDIATE {len(locks)}: p50 {_pct(locks, 50):.1f} p99 {_pct(locks, 99):.1f}"
        f" max {max(locks, default=0):.1f} ms"
    )
    gcs = [(e[0], (e[2] - e[1]) * 1000) for e in events["gc"]]
    by_gen = defaultdict(list)
    for gen, ms in gcs:
        by_gen[gen].append(ms)
    print(
        "gc: " + ", ".join(
            f"gen{g} {len(v)}× max {max(v):.1f} ms sum {sum(v):.0f}"
            for g, v in sorted(by_gen.items())
        )
    )  # fmt: skip
    lags = sorted(e[1] * 1000 for e in events["lag"])
    print(
        f"loop late > 3 ms: {len(lags)}× (p50 {_pct(lags, 50):.1f}, max"
        f" {max(lags, default=0):.1f} ms, sum {sum(lags):.0f} ms)"
    )
    rows.sort(key=lambda r: -(r[1].get("reply") or 0))
    slow = rows[: max(int(len(rows) * SLOWEST), 1)]
    print(f"the slowest {len(slow)}: stages ms; overlapping: checkpoints, longest commit / lock,")
    print(" gc ms, loop late ms (sum)")
    print(f"{'update':>8}" + "".join(f"{s:>7}" for s in (*STAGES, "reply")) + "  overlapping")
    for marks, stages in slow:
        a, b = marks["started"], marks["replied"]
        over = _overlap(commits, a, b)
        ckpt = [f"{(e[1] - e[0]) * 1000:.0f}" for e in over if e in checkpoints]
        longest = max(((e[1] - e[0]) * 1000 for e in over), default=0.0)
        lock = max(((e[1] - e[0]) * 1000 for e in _overlap(events["lock"], a, b)), default=0.0)
        gc_ms = sum((e[2] - e[1]) * 1000 for e in _overlap(events["gc"], a, b, 1, 2))
        late = sum(e[1] * 1000 for e in events["lag"] if a <= e[0] <= b)
        cells = "".join(
            f"{stages[s]:>7.0f}" if stages.get(s) is not None else f"{'-':>7}"
            for s in (*STAGES, "reply")
        )
        print(
            f"{marks['update']:>8}{cells}  ckpt [{','.join(ckpt)}] commit {longest:.0f} lock"
            f" {lock:.0f} gc {gc_ms:.0f} late {late:.0f}"
        )


def main() -> None:
    for name in sys.argv[1:]:
        report(Path(name.removesuffix(".fake.jsonl")))


if __name__ == "__main__":
    main()
