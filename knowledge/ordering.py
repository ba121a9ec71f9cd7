"""The rules that put scored candidates in their final order: the question's word pairs
standing together in an entry, an openable article before a section it ties with, and the most
general title first."""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Callable

from knowledge.index import PREFIX_LEN, Index
from knowledge.query import Query

# Scores this close are a tie between an unlinked section and a linked article.
OPENABLE_TIE = 0.02
# Two keys this far apart or closer in an entry's text stand together: up to three keys
# between, as a noun with its attributes («права доступа к CRM‑формам», «статусов для лидов»)
# spreads a question's word pair that far.
PAIR_SPAN = 4
# The top candidate and the runners-up whose titles are compared with its title ...
RIVALS = 3
# ... when they score this close to it.
GENERAL_TIE = 0.15
# A title asked about by this much more (as a share of its rarity) is the more general one.
GENERAL_GAIN = 0.05
# The first candidates whose scores also count how many of the question's word pairs stand
# together in them (reading each entry's whole text costs too much for all forty).
NEAR_RIVALS = 5

# An entry's head keys as word families, its title's keys as (family, idf) pairs, and the sum
# of those idf (:func:`entry_families`).
Families = tuple[frozenset[str], tuple[tuple[str, float], ...], float]

# A candidate while it is ranked, before it becomes a knowledge.scoring.Ranked: score, entry, the
# parts of the score (bm25, coverage, head, fuzzy), evidence, titled, names missed and phrases
# (as in Ranked).
Row = tuple[float, int, tuple[float, float, float, float], float, float, float, float]


def sort_rows(rows: list[Row]) -> None:
    # Sums over sets come out in hash order, which differs between processes: the last bits of
    # equal scores are noise, and a tie goes to the entry that comes first.
    rows.sort(key=lambda r: (-round(r[0], 9), r[1]))


def entry_families(index: Index, doc: int) -> Families:
    """The word families (:func:`_family`) of an entry's head keys, and its title's keys
    as (family, idf) pairs in the order of :attr:`Index.title_idf`, with their sum."""
    title_keys, title_mass = index.title_idf[doc]
    return (
        frozenset(_family(k) for k in index.infos[doc].head_keys),
        tuple((_family(k), w) for k, w in title_keys),
        title_mass,
    )


def nearness(
    index: Index, near: Callable[[float, float], float], query: Query, rows: list[Row]
) -> list[Row]:
    """The first NEAR_RIVALS candidates rescored with their word pairs together (kept as
    ``phrases``) by ``near`` (:meth:`Weights.near <knowledge.scoring.Weights.near>`), and every
    score brought to the same scale. A question without a pair of known words has nothing to
    stand together: its scores stay as they are."""
    asked = _asked_pairs(query)
    if not asked:
        return rows
    weight = [index.key_idf(a) + index.key_idf(b) for a, b in asked]
    whole = sum(weight)
    first = [
        (near(score, pairs), doc, parts, evidence, titled, missed, pairs)
        for score, doc, parts, evidence, titled, missed, _ in rows[:NEAR_RIVALS]
        for pairs in (_phrases(asked, weight, whole, index.positions(doc)),)
    ]
    sort_rows(first)
    return first + [
        (near(score, 0.0), doc, parts, evidence, titled, missed, phrases)
        for score, doc, parts, evidence, titled, missed, phrases in rows[NEAR_RIVALS:]
    ]


def openable_first(index: Index, top: Row, second: Row, mass: dict[str, float]) -> bool:
    """A helpdesk article the person can open beats a section without a link that it
    all but ties with, on the same topic: the article's head (its title and question-like
    headings, ``head_keys``) holds the heaviest of the question's keys that the section's
    head holds. Otherwise the section's head names what the article's does not («13. Диск
    Битрикс24» against «Как удалить Битрикс24» for a question about the drive), and the
    section stays first. Heads written in two languages share no keys to compare (the
    Romanian guide's «companiei», an article's «компании»): there the article goes first
    as before."""
    entries, infos = index.entries, index.infos
    if entries[top[1]].url or not entries[second[1]].url or top[0] - second[0] > OPENABLE_TIE:
        return False
    if index.langs[top[1]] != index.langs[second[1]]:
        return True
    titled = infos[top[1]].head_keys.intersection(mass)
    heaviest = max(titled, key=lambda k: (mass[k], k), default=None)
    return heaviest is None or heaviest in infos[second[1]].head_keys


def most_general(
    rows: list[Row],
    mass: dict[str, float],
    families: Callable[[int], Families],
) -> tuple[int, list[float]]:
    """Which of the first RIVALS candidates answers a question that their titles (or
    question-like headings) all hold whole, word families counted: the one whose title says
    least besides, when it scores close to the top; and each one's share of its title asked.
    "Как создать задачу" is about creating tasks, not about «Как создать чат о просроченной
    задаче», whose title holds it too but is about something more. ``families``: an entry's
    head and title word families (:func:`entry_families`).
    """
    first = rows[:RIVALS]
    asked_families = {_family(k) for k in mass}
    specific = [_family(k) for k in mass if not k.isdigit()]
    found = [families(r[1]) for r in first]
    asked = [_title_asked(title, title_mass, asked_families) for _, title, title_mass in found]
    holds = [all(f in head for f in specific) for head, _, _ in found]
    best = 0
    if holds[0]:
        for i in range(1, len(first)):
            if (
                first[0][0] - first[i][0] <= GENERAL_TIE
                and holds[i]
                and asked[i] > asked[best] + GENERAL_GAIN
            ):
                best = i
    return best, asked


def _family(key: str) -> str:
    """A key's word family for titles: its first PREFIX_LEN letters when it has that many
    ("созда" for both "создать" and "создавать"), else the key itself."""
    return key[:PREFIX_LEN] if len(key) >= PREFIX_LEN and "а" <= key[0] <= "я" else key


def _title_asked(title: tuple[tuple[str, float], ...], title_mass: float, asked: set[str]) -> float:
    """The share (by rarity) of an entry's title (its keys' families with their idf, summing to
    ``title_mass``) that the question asks about, by word family ("создавать" in a title for
    "создать" in the question)."""
    if not title_mass:
        return 0.0
    return sum(w for f, w in title if f in asked) / title_mass


def _phrases(
    asked: list[tuple[str, str]],
    weight: list[float],
    whole: float,
    places: dict[str, tuple[int, ...]],
) -> float:
    """The share (by rarity: ``weight`` each, ``whole`` in all) of the question's neighbouring
    key pairs that an entry (its keys' ``places``) has within PAIR_SPAN keys of each other, in
    either order."""
    together = sum(
        w
        for (a, b), w in zip(asked, weight, strict=True)
        if a in places and b in places and _near(places[a], places[b])
    )
    return together / whole


def _asked_pairs(query: Query) -> list[tuple[str, str]]:
    """The question's neighbouring pairs of known words (numbers aside)."""
    keys = [k.key for k in query.keys if k.known and not k.key.isdigit()]
    return list(itertools.pairwise(keys))


def _near(first: tuple[int, ...], second: tuple[int, ...]) -> bool:
    """Some place of ``first`` is within PAIR_SPAN of another place of ``second``."""
    for place in first:
        n = bisect_left(second, place - PAIR_SPAN)
        while n < len(second) and second[n] <= place + PAIR_SPAN:
            if second[n] != place:
                return True
            n += 1
    return False
