"""Text normalisation: folding, tokens, morphology, keyboard layout and transliteration."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import Stemmer

from knowledge.resources import read_data_lines

if TYPE_CHECKING:
    import pymorphy3

_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
_TOKEN = re.compile(r"[a-zа-я0-9]+")
# Romanian diacritics (both comma-below and cedilla forms) and other Latin accents are folded by
# NFKD below; these are the letters NFKD leaves alone.
_SPECIAL = {"ё": "е", "ß": "ss", "ı": "i", "ł": "l", "ø": "o", "æ": "ae"}


def _accent_table() -> dict[int, str]:
    """Latin letters with diacritics (Latin-1 to Latin Extended Additional) -> plain letters."""
    table: dict[int, str] = {}
    for code in (*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)):
        base = unicodedata.normalize("NFKD", chr(code))
        plain = "".join(c for c in base if not unicodedata.combining(c))
        if plain and plain != chr(code) and plain.isascii():
            table[code] = plain
    table.update((ord(k), v) for k, v in _SPECIAL.items())
    return table


# One translate table, so folding costs the same for Cyrillic text as for ASCII.
_FOLD = _accent_table()


# Characters the table changes after case-folding: most text (Russian, plain English) has
# none but 'ё', and a regex search is far cheaper than translating every character.
_NEEDS_TABLE = re.compile("[" + re.escape("".join(sorted({chr(c) for c in _FOLD} - {"ё"}))) + "]")


def fold(text: str) -> str:
    """Case-fold, 'ё' to 'е', strip Latin diacritics (Romanian ă â î ș ț); Cyrillic kept."""
    folded = text.casefold()
    if _NEEDS_TABLE.search(folded):
        return folded.translate(_FOLD)
    return folded.replace("ё", "е")


def head_and_tail(text: str, limit: int) -> str:
    """At most about ``limit`` characters of a message: its beginning and its end."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} {text[-half:]}"


def tokenize(text: str) -> list[str]:
    """Folded word tokens: runs of letters and digits (hyphens and punctuation split words)."""
    return _TOKEN.findall(fold(text))


def script(token: str) -> str:
    """'cyr', 'lat' or 'num' for a folded token (the script of its first letter)."""
    for ch in token:
        if "а" <= ch <= "я" or ch == "ё":
            return "cyr"
        if "a" <= ch <= "z":
            return "lat"
    if _CYRILLIC.search(token):
        return "cyr"
    return "lat" if _LATIN.search(token) else "num"


# Parts of speech (pymorphy3 tags) that rarely name what a question is about.
_SIDE_POS = frozenset({"VERB", "INFN", "GRND", "PRTS", "ADVB", "PRED", "COMP", "PRCL", "INTJ"})
SIDE_WORD_WEIGHT = 0.6
# Bump when Morphology computes keys differently, so that cached keys are not reused.
MORPHOLOGY_VERSION = "2"


_COMMON_LANGS = ("en", "ro")


@cache
def _dictionary() -> pymorphy3.MorphAnalyzer:
    """The pymorphy3 dictionary for the parsers, opened on first use (no import-time effect)."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=16384)
def is_infinitive(word: str) -> bool:
    """``word`` (folded) is a Russian infinitive as the dictionary reads it (INFN): «открыть»,
    «перейти», «сохраниться»; not a noun spelt like one («печать», «память», «тетрадь»)."""
    if len(word) < 4 or not word.isalpha() or script(word) != "cyr":
        return False
    return bool(_dictionary().parse(word)[0].tag.POS == "INFN")


class Morphology:
    """Reduces a folded token to a matching key: lemma (Russian) then Snowball stem.

    Russian words known to the pymorphy3 dictionary are lemmatised first, so that forms the
    stemmer alone keeps apart ("сделок"/"сделка", "настроек"/"настройки") meet; unknown words
    (typos, brand names) are only stemmed. Latin words use the English or Romanian stemmer.
    """

    def __init__(self) -> None:
        import pymorphy3

        self._morph = pymorphy3.MorphAnalyzer()
        self._ru = Stemmer.Stemmer("russian")
        self._en = Stemmer.Stemmer("english")
        self._ro = Stemmer.Stemmer("romanian")
        self._cache: dict[tuple[str, str], str] = {}
        self._weights: dict[str, float] = {}
        self._known: dict[str, bool] = {}
        # Common words of the Latin-script languages (scripts/wordlists.py, from wordfreq),
        # read when a Latin word is first looked up: ~35 ms and 8 MB a Russian-only build
        # does not need.
        self._common: dict[str, frozenset[str]] = {}

    def key(self, token: str, lang: str = "ru") -> str:
        """The index key of one folded token; ``lang`` picks the Latin stemmer ('ro' or other)."""
        cache_key = (token, "ro" if lang == "ro" else "")
        hit = self._cache.get(cache_key)
        if hit is not None:
            return hit
        result = self._key(token, lang)
        self._cache[cache_key] = result
        return result

    def _key(self, token: str, lang: str) -> str:
        kind = script(token)
        if kind == "num" or len(token) <= 2:
            return token
        if kind == "cyr":
            if token.isalpha() and self.is_word(token):
                parsed = self._morph.parse(token)[0]
                self._weights[token] = SIDE_WORD_WEIGHT if parsed.tag.POS in _SIDE_POS else 1.0
                token = parsed.normal_form.replace("ё", "е")
            return str(self._ru.stemWord(token))
        stemmer = self._ro if lang == "ro" else self._en
        return str(stemmer.stemWord(token))

    def export(self) -> dict[str, str]:
        """Every key (and side-word weight) computed so far, for a cache file."""
        saved = {f"{token}|{lang}": key for (token, lang), key in self._cache.items()}
        saved.update((f"{token}#", str(w)) for token, w in self._weights.items())
        return saved

    def preload(self, saved: dict[str, str]) -> None:
        """Keys computed by an earlier process: lemmatising the corpus is most of a build."""
        for joined, value in saved.items():
            if joined.endswith("#"):
                try:
                    self._weights.setdefault(joined[:-1], float(value))
                except ValueError:
                    continue
            else:
                token, _, lang = joined.rpartition("|")
                self._cache.setdefault((token, lang), value)

    @staticmethod
    def fingerprint() -> str:
        """Changes whenever a key computed earlier may no longer be right."""
        from importlib.metadata import PackageNotFoundError, version

        parts = [MORPHOLOGY_VERSION]
        for package in ("pymorphy3", "pymorphy3-dicts-ru", "PyStemmer"):
            try:
                parts.append(version(package))
            except PackageNotFoundError:
                parts.append("-")
        return "-".join(parts)

    def weight(self, token: str) -> float:
        """How much a question word says about its topic: nouns, adjectives and names carry it,
        verbs and adverbs ("смотреть", "быстро") only add to it."""
        hit = self._weights.get(token)
        if hit is None:
            hit = 1.0
            if self.is_word(token):
                pos = self._morph.parse(token)[0].tag.POS
                hit = SIDE_WORD_WEIGHT if pos in _SIDE_POS else 1.0
            self._weights[token] = hit
        return hit

    def is_word(self, token: str) -> bool:
        """A real Russian word (in the dictionary), as opposed to a typo or a name."""
        hit = self._known.get(token)
        if hit is None:
            hit = script(token) == "cyr" and self._morph.word_is_known(token)
            self._known[token] = hit
        return hit

    def may_be_imperative(self, token: str) -> bool:
        """``token`` (folded) may be a verb's imperative: «нажмите» is, «сайте» and «защите»
        (nouns spelt like one) are not; a word the dictionary does not know may be."""
        if not self.is_word(token):
            return True
        return any("impr" in parsed.tag for parsed in self._morph.parse(token))

    def is_common(self, token: str, lang: str) -> bool:
        """A common English or Romanian word (``lang``), spelt as it is usually spelt."""
        if lang not in _COMMON_LANGS:
            return False
        words = self._common.get(lang)
        if words is None:
            words = self._common[lang] = frozenset(read_data_lines(f"words_{lang}.txt"))
        return token in words

    def keys(self, tokens: Iterable[str], lang: str = "ru") -> list[str]:
        return [self.key(t, lang) for t in tokens]


def _load_layout() -> tuple[dict[str, str], dict[str, str]]:
    lines = read_data_lines("layout.txt")
    lat_to_cyr: dict[str, str] = {}
    for latin, cyrillic in zip(lines[::2], lines[1::2], strict=True):
        if len(latin) != len(cyrillic):
            raise ValueError(f"layout.txt: rows differ in length: {latin!r} / {cyrillic!r}")
        lat_to_cyr.update(zip(latin, cyrillic, strict=True))
    cyr_to_lat = {c: lt for lt, c in lat_to_cyr.items() if c.isalpha()}
    return lat_to_cyr, cyr_to_lat


_LAT_TO_CYR, _CYR_TO_LAT = _load_layout()
_LAT_LAYOUT = str.maketrans(_LAT_TO_CYR)
_CYR_LAYOUT = str.maketrans(_CYR_TO_LAT)


def swap_layout_to_cyrillic(text: str) -> str:
    """What the keys typed would have produced with the Russian layout active."""
    return text.translate(_LAT_LAYOUT)


def swap_layout_to_latin(text: str) -> str:
    """What the keys typed would have produced with the English layout active."""
    return text.translate(_CYR_LAYOUT)


def _load_translit() -> tuple[tuple[str, str], ...]:
    rules = []
    for line in read_data_lines("translit.txt"):
        latin, _, cyrillic = line.partition("\t")
        rules.append((latin, cyrillic))
    return tuple(sorted(rules, key=lambda r: -len(r[0])))


_TRANSLIT = _load_translit()
_TRANSLIT_RE = re.compile("|".join(re.escape(lat) for lat, _ in _TRANSLIT))
_TRANSLIT_MAP = dict(_TRANSLIT)
_SHORT_I = re.compile(r"(?<=[aeiouy])y(?![aeiou])")


def transliterate_to_cyrillic(text: str) -> str:
    """Read Latin letters as a Russian transliteration ("kak podklyuchit" -> "как подключит")."""
    text = _SHORT_I.sub("й", text.casefold())
    return _TRANSLIT_RE.sub(lambda m: _TRANSLIT_MAP[m.group(0)], text)


_RO_LETTERS = re.compile(r"[ăâîșşțţ]", re.IGNORECASE)
_RO_WORDS = frozenset(read_data_lines("romanian_markers.txt"))
_EN_WORDS = frozenset(read_data_lines("english_markers.txt"))


def detect_lang(text: str) -> str:
    """'ru', 'en' or 'ro' from the words of a text; 'lat' for Latin text with no marker words
    (transliterated or wrong-layout Russian, or a bare list of names)."""
    words = tokenize(text[:4000])
    scripts = [script(w) for w in words]
    cyrillic = scripts.count("cyr")
    latin = scripts.count("lat")
    # Russian with product names in it ("не работает CRM и Open Lines") is Russian.
    if cyrillic >= 2 or cyrillic >= latin or not latin:
        return "ru"
    if _RO_LETTERS.search(text[:4000]):
        return "ro"
    ro = sum(w in _RO_WORDS for w in words)
    en = sum(w in _EN_WORDS for w in words)
    if ro > en:
        return "ro"
    return "en" if en else "lat"


def written_language(lang: str) -> str:
    """A language of :func:`detect_lang` as a question's or an answer's is named: "ru", "en" or
    "ro" (Latin text without marker words, "lat", reads as English)."""
    return "en" if lang == "lat" else lang
