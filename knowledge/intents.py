"""Recognises messages that are not questions: small talk and requests for a human."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from knowledge.resources import read_data_lines
from knowledge.text import fold, tokenize

# Small talk wins only when at most this many meaningful words are left around it; otherwise
# the greeting is dropped and the rest is read as a question.
SMALLTALK_MAX_REST = 1
# A request for a human that keeps at least this many meaningful words besides the request
# states the problem itself («не работает телефония, позовите оператора»).
PROBLEM_MIN_WORDS = 2
OPERATOR = "operator"
_SMALLTALK_KINDS = ("bot", "greeting", "thanks", "bye", "ack")
_DEFINE = "define"
_COURTESY = "courtesy"
# Whole-word vocabularies (not message patterns) of a request made of request words alone.
_HEAD = "operator_head"
_WORD = "operator_word"
_VERB = "operator_verb"
# A clause naming a person to reach beside a word asking to reach one, not framed as a question.
_WHO = "operator_who"
_ASK = "operator_ask"
_QUESTION = "question_frame"
_PRODUCT = "product_question"
_GATE = "operator_gate"
_SPELLING = "operator_spelling"
# A word is read as a request word one slip away only from this long (Cyrillic / Latin).
_SPELT_MIN = {"cyr": 6, "lat": 5}
# Unstressed Russian vowels, spelt as heard: compared as one letter.
_SOUNDS = str.maketrans("оеё", "аии")
_WORD_RE = re.compile(r"\w+")
# Beyond this, a message is read for a request only in its sentences that have a gate word.
_GATED_SENTENCES_FROM = 300
_SENTENCE = re.compile(r"[^.!?;]+[.!?;]*")
_CLAUSE = re.compile(r"[^.!?;]+")
# ... and the pieces a problem is told in, to leave the request out of it.
_PIECE = re.compile(r"[^.!?;,]+")
_NAME = re.compile(r"\{(\w+)\}")
_NO_WORDS = re.compile(r"^[^\w?]+$")


@dataclass(frozen=True, slots=True)
class Intent:
    """``kind`` is "operator", a small-talk kind or "" (a question); ``rest`` the question part."""

    kind: str
    rest: str


def _sections() -> dict[str, list[str]]:
    """The sections of intents.txt, read once, with their word groups ({name}) spelt out."""
    sections: dict[str, list[str]] = {}
    groups: dict[str, str] = {}
    current = ""
    for line in read_data_lines("intents.txt"):
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections.setdefault(current, [])
        elif current == _DEFINE:
            name, sep, regex = line.partition(" = ")
            if not sep or not name.strip().isidentifier():
                raise ValueError(f"intents.txt: not a 'name = regex' definition: {line!r}")
            groups[name.strip()] = _expand(regex.strip(), groups)
        elif current:
            sections[current].append(_expand(line, groups))
        else:
            raise ValueError(f"intents.txt: pattern outside a section: {line!r}")
    return sections


def _compile(sections: dict[str, list[str]]) -> dict[str, tuple[re.Pattern[str], ...]]:
    """Each section's patterns. One alternation per section: a long message is scanned once per
    section, not once per pattern; but [operator]'s hundred patterns, each starting with a group
    of words, search faster one by one (2.5 times, measured over the question sets)."""
    return {
        name: (
            tuple(re.compile(p) for p in patterns)
            if name == OPERATOR
            else (re.compile("|".join(f"(?:{p})" for p in patterns)),)
        )
        for name, patterns in sections.items()
        if name not in (_DEFINE, _SPELLING) and patterns
    }


def _spelling(lines: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """[operator_spelling]'s words (``lines``) by how they sound (:data:`_SOUNDS`), and by each
    way of dropping one letter of that: the index of a symmetric-delete spelling check."""
    words = [w for line in lines for w in line.split("|") if w]
    exact: dict[str, str] = {}
    dropped: dict[str, str] = {}
    for word in words:
        key = word.translate(_SOUNDS)
        exact.setdefault(key, word)
        for n in range(len(key)):
            dropped.setdefault(key[:n] + key[n + 1 :], word)
    return exact, dropped


def _is_reaction(folded: str) -> bool:
    """Emoji alone ("👍", "🙏🙂"): a reaction to the last reply, not a question."""
    return bool(_NO_WORDS.match(folded)) and any(unicodedata.category(c) == "So" for c in folded)


def _expand(pattern: str, groups: dict[str, str]) -> str:
    def group(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in groups:
            raise ValueError(f"intents.txt: {{{name}}} is not defined before it is used")
        return groups[name]

    return _NAME.sub(group, pattern)


class IntentReader:
    """Applies the patterns of ``knowledge/data/intents.txt``."""

    def __init__(
        self, stopwords: frozenset[str], is_word: Callable[[str], bool] = lambda _: False
    ) -> None:
        sections = _sections()
        self._patterns = _compile(sections)
        self._stopwords = stopwords
        # A word of the dictionary is never respelt: "пригласить" is not "пригласите".
        self._is_word = is_word
        self._exact, self._dropped = _spelling(sections.get(_SPELLING, []))

    def read(self, text: str) -> Intent:
        folded = " ".join(fold(text).split())
        if _is_reaction(folded):
            return Intent("ack", "")
        for pattern in self._patterns.get("bot", ()):
            if pattern.search(folded):
                # "ты бот? переключи на человека": asking about the bot, then for a human.
                if self._asks_for_human(pattern.sub(" ", folded)):
                    return Intent(OPERATOR, folded)
                return Intent("bot", self._strip_smalltalk(folded))
        if self._asks_for_human(folded):
            return Intent(OPERATOR, folded)
        if len(folded) < _GATED_SENTENCES_FROM:
            spelt = self._spelt(folded)
            if spelt != folded and self._asks_for_human(spelt):
                return Intent(OPERATOR, folded)
        rest = self._strip_smalltalk(folded)
        if rest == folded:
            # Nothing to strip: the question as written, capitals and all (they mark names).
            return Intent("", text)
        left = rest
        for pattern in self._patterns.get(_COURTESY, ()):
            left = pattern.sub(" ", left)
        meaningful = [t for t in tokenize(left) if t not in self._stopwords]
        if len(meaningful) <= SMALLTALK_MAX_REST:
            return Intent(self._first_kind(folded), rest)
        return Intent("", rest)

    def reread(self, intent: Intent, repaired: str) -> Intent:
        """``intent`` of a message that read as a question, read again as ``repaired`` (the
        message with its keyboard layout, transliteration and typos undone): a request for a
        human or small talk typed that way ("svyazhite s operatorom", "опертор нужен") is
        recognised like the same words typed right. A question stays ``intent``."""
        again = self.read(repaired)
        return again if again.kind else intent

    def problem(self, text: str) -> str:
        """What a request for a human says besides the request: the problem, or "" when it is
        only the request (with greetings and courtesy) or not a request for a human at all."""
        folded = " ".join(fold(text).split())
        patterns = self._patterns.get(OPERATOR, ())
        if not self._asks_for_human(folded) and len(folded) < _GATED_SENTENCES_FROM:
            # A request typed with a slip: the problem is told around the request as spelt.
            folded = self._spelt(folded)
        if not self._asks_for_human(folded) or self._bare_request(folded):
            return ""
        # Clauses that only ask for a person are the request, not the problem.
        left = " ".join(c for c in _PIECE.findall(folded) if not self._clause_request(c))
        for pattern in (*patterns, *self._patterns.get(_COURTESY, ())):
            left = pattern.sub(" ", left)
        left = self._strip_smalltalk(left)
        meaningful = [t for t in tokenize(left) if t not in self._stopwords]
        return left if len(meaningful) >= PROBLEM_MIN_WORDS else ""

    def _asks_for_human(self, folded: str) -> bool:
        text = self._request_text(folded)
        if not text:
            return False
        if self._matches_request(text):
            return True
        # A greeting before it does not change a request: "алло, люди есть?".
        bare = self._strip_smalltalk(text)
        if bare != text and bare and self._matches_request(bare):
            return True
        return self._bare_request(text) or self._clause_request(text)

    def _matches_request(self, text: str) -> bool:
        """Some [operator] pattern matches ``text`` outside a clause asking how to set the
        product up ([product_question])."""
        product = self._patterns.get(_PRODUCT, ())
        for pattern in self._patterns.get(OPERATOR, ()):
            for match in pattern.finditer(text):
                start = max(text.rfind(mark, 0, match.start()) for mark in ".?!")
                clause = text[start + 1 : match.end()]
                if not any(p.search(clause) for p in product):
                    return True
        return False

    def _spelt(self, folded: str) -> str:
        """``folded`` with each word one slip away from a request word (and none itself, nor a
        stop word) spelt as that word: see [operator_spelling] in intents.txt."""
        return _WORD_RE.sub(lambda m: self._respelt(m.group()), folded)

    def _respelt(self, word: str) -> str:
        least = _SPELT_MIN["lat" if word.isascii() else "cyr"]
        if len(word) < least - 1 or word in self._stopwords:
            return word
        key = word.translate(_SOUNDS)
        # Spelt as heard, or a letter missing: a word with that letter dropped.
        found = self._exact.get(key) or self._dropped.get(key)
        if found is None and len(word) >= least:
            for n in range(len(key)):
                shorter = key[:n] + key[n + 1 :]
                # A letter too many, or one changed (or two swapped): the same word dropped.
                found = self._exact.get(shorter) or self._dropped.get(shorter)
                if found:
                    break
        if not found or len(found) < _SPELT_MIN["lat" if found.isascii() else "cyr"]:
            return word
        # Looked up last, as it costs most.
        return word if found == word or self._is_word(word) else found

    def _request_text(self, folded: str) -> str:
        """The part of a message that may ask for a human: all of a short one with a gate word,
        only such sentences of a long one, else nothing."""
        gate = self._patterns.get(_GATE, ())
        if len(folded) < _GATED_SENTENCES_FROM:
            return folded if any(p.search(folded) for p in gate) else ""
        kept = (s for s in _SENTENCE.findall(folded) if any(p.search(s) for p in gate))
        return " ".join(" ".join(kept).split())

    def _clause_request(self, folded: str) -> bool:
        """A clause that names whom to reach and asks to reach them (see intents.txt)."""
        who, ask = self._patterns.get(_WHO, ()), self._patterns.get(_ASK, ())
        question = self._patterns.get(_QUESTION, ())
        for clause in _CLAUSE.findall(folded):
            text = clause.strip(" ,")
            if any(p.search(text) for p in question):
                continue
            if any(p.search(text) for p in who) and any(p.search(text) for p in ask):
                return True
        return False

    def _bare_request(self, folded: str) -> bool:
        """Only request words, one of which names a person or puts one through."""
        heads, words = self._patterns.get(_HEAD, ()), self._patterns.get(_WORD, ())
        verbs = self._patterns.get(_VERB, ())
        named = asked = False
        for token in tokenize(self._strip_smalltalk(folded)):
            if any(p.fullmatch(token) for p in verbs):
                named = asked = True
            elif any(p.fullmatch(token) for p in heads):
                named = True
            elif any(p.fullmatch(token) for p in words):
                asked = True
            elif token not in self._stopwords:
                return False
        return named and asked

    def _strip_smalltalk(self, folded: str) -> str:
        for kind in _SMALLTALK_KINDS:
            for pattern in self._patterns.get(kind, ()):
                folded = pattern.sub(" ", folded)
        return " ".join(folded.split())

    def _first_kind(self, folded: str) -> str:
        for kind in _SMALLTALK_KINDS:
            if any(p.search(folded) for p in self._patterns.get(kind, ())):
                return kind
        return "greeting"
