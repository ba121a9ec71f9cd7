"""The first answer text as a person gets it, checked mechanically on every answerable question.

    python bench/answers.py [--set NAME|PATH ...] [--show all|flagged] [--kind KIND] [--limit N]

For every answerable question of the development, realistic and foreign sets (never the final
check): the reply the person reads — the answer given outright, or, after a «did you mean», the
answer for the right entry they pick — rendered as `helpbot ask` prints it. Each reply is checked
for: the answer's text over ~600 characters; its last line cut mid-sentence or ending in «:»;
a «…:» left hanging inside it; a list cut in the middle (the entry's next line is the list's
next item) or begun in the middle; a table row garbled (a «|» row without its header, or a
markdown separator); navigation noise of the scraped pages; the menu path shown not being in
the passage shown (nor declared before it); an English or Romanian question answered from a
Russian article without saying so; the reply in another language than the question's; no
link. Prints the counts per check and per entry kind,
then the flagged replies (or all of them with --show all).
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.quality import hit, load_set  # noqa: E402
from bot.replies import choose_language, compose  # noqa: E402
from handlers.cli.ask import render_plain  # noqa: E402
from knowledge.answer import MAX_ANSWER_CHARS, entry_language  # noqa: E402
from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.model import Action, Answer, Decision  # noqa: E402
from knowledge.passages import END_MARKS, ITEM  # noqa: E402

SETS = ("dev", "realistic", "foreign")
# A little over the limit is the issue's «about 600»; more is a defect.
LENGTH_SLACK = 40
# What the scraped pages carry around an article: sharing, cookies, sign-in, site menus,
# the «was it helpful» widget, the site's own breadcrumb.
_NAV_NOISE = re.compile(
    r"Поделиться|cookie|куки|Авторизуйтесь|Подписаться|ПОДПИСАТЬСЯ|Наверх|"
    r"Помогла ли|Спасибо, помогло|Не помогло|Связанные статьи|Рекомендуем прочитать|"
    r"Поддержка24|Главная\s*[>/›]|Битрикс24\s*[>/›]\s*(?:Поддержка|Helpdesk)|\[image:|"
    r"Нажмите на рисунок|©|Автор:|Последнее обновление",
    re.IGNORECASE,
)
# A line stopping on a word that wants its object: the button's or menu's name went to a line
# of its own with the page's markup («Укажите пароль и нажмите» / «Сохранить»).
_SPLIT_OFF = re.compile(r"(?:\b\w+(?:и|й|ь)те|\b(?:в|на|кнопку|блоке|вкладку|разделе))$")
_AFTER_PREPOSITION = re.compile(r"\b(?:в|на|о|при|по)\s+\w+те$")
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}")
# A line may close without a stop: a list item, a table row, a path, a title-like label.
_CLOSED = (*END_MARKS, ")", "»", '"', "”")


def _lines(answer: Answer) -> list[str]:
    return [line for block in answer.blocks for line in block.split("\n") if line.strip()]


def _body_lines(answer: Answer) -> list[str]:
    return [" ".join(line.split()) for line in answer.entry.body.split("\n") if line.strip()]


def _number(line: str) -> int | None:
    found = re.match(r"^\s*(\d{1,2})[.)]\s", line)
    return int(found.group(1)) if found else None


def checks(answer: Answer, reply: str, question_lang: str, reply_lang: str) -> list[str]:
    """The defects of one reply, by name."""
    out: list[str] = []
    lines = _lines(answer)
    text = "\n".join(lines)
    if len(text) > MAX_ANSWER_CHARS + LENGTH_SLACK:
        out.append("too_long")
    last = lines[-1] if lines else ""
    if last.endswith(":"):
        out.append("ends_colon")
    elif (
        last
        and not last.endswith(_CLOSED)
        and not ITEM.match(last)
        and not last.startswith("|")
        and len(last.split()) > 6
    ):
        out.append("ends_mid_sentence")
    if any(line.endswith(":") for line in lines[:-1]) and _hanging_colon(lines):
        out.append("hanging_colon")
    body = _body_lines(answer)
    if last and (ITEM.match(last) or _number(last)) and last in body:
        i = body.index(last)
        following = body[i + 1] if i + 1 < len(body) else ""
        n = _number(last)
        if following and ITEM.match(following) and (n is None or _number(following) == n + 1):
            out.append("list_cut")
    first = lines[0] if lines else ""
    if (_number(first) or 0) > 1 and not text.startswith(answer.entry.summary[:20] or "\0"):
        out.append("list_starts_mid")
    rows = [line for line in lines if line.startswith("|")]
    if any(_TABLE_SEPARATOR.match(row) for row in rows) or (
        rows and any("**" in row for row in rows)
    ):
        out.append("table_garbled")
    if _NAV_NOISE.search(text):
        out.append("nav_noise")
    if any(
        _SPLIT_OFF.search(line) and not ITEM.match(line) and not _AFTER_PREPOSITION.search(line)
        for line in lines
    ):
        out.append("label_split_off")
    entry_text = " ".join(f"{answer.entry.summary}\n{answer.entry.body}".split())
    if answer.path and answer.path not in entry_text and answer.path != answer.entry.path:
        out.append("path_not_in_entry")
    elif answer.path and not _path_near(answer, lines):
        out.append("path_not_in_passage")
    if question_lang in ("en", "ro") and entry_language(answer.entry) == "ru":
        if reply_lang == "ru" or answer.lang == reply_lang:
            pass
        elif "Russian" not in reply and "limba rusă" not in reply:
            out.append("no_russian_note")
    if question_lang in ("ru", "en", "ro") and reply_lang != question_lang:
        out.append("reply_language")
    if "http" not in reply:
        out.append("no_link")
    return out


def _hanging_colon(lines: list[str]) -> bool:
    """A «…:» line followed by prose that is not its content (a sentence of its own)."""
    for line, following in itertools.pairwise(lines):
        if (
            line.endswith(":")
            and len(line.split()) > 3
            and not ITEM.match(following)
            and not following.startswith("|")
            and following.endswith(END_MARKS)
            and len(following) > 90
        ):
            return True
    return False


def _path_near(answer: Answer, lines: list[str]) -> bool:
    """The path is in the text shown, or declared by the entry («Путь: …»), or given with it."""
    if answer.path == answer.entry.path:
        return True
    if any(answer.path in line for line in lines):
        return True
    body = " ".join(answer.entry.body.split())
    at = body.find(answer.path)
    return body[max(0, at - 8) : at].strip().lower().startswith("путь")


def kind_of(answer: Answer) -> str:
    source = Path(answer.entry.source).stem
    return f"{answer.entry.kind}:{source}"


def replies(
    kb: KnowledgeBase, sets: Iterable[str], public_url: str = ""
) -> Iterable[tuple[dict, Answer, str, str]]:
    """(case, answer, reply text, reply language) for every answerable question."""
    for name in sets:
        _, cases = load_set(name)
        for case in cases:
            targets = case.get("expect", {}).get("answer") or []
            if not targets:
                continue
            decision: Decision = kb.decide(case["q"])
            lang = choose_language(None, decision.lang, "ru")
            answer = decision.answer if decision.action is Action.ANSWER else None
            if decision.action is Action.CLARIFY:
                picked = next(
                    (m for m in decision.matches[:5] if hit(m.entry.title, m.entry.url, targets)),
                    None,
                )
                if picked is not None:
                    answer = kb.answer_for(picked.entry.id, case["q"])
            if answer is None:
                continue
            given = Decision(Action.ANSWER, decision.matches, answer, decision.lang)
            reply = compose(given, lang, public_url=public_url)
            yield case | {"set": name}, answer, render_plain(reply), lang


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", help="a set's name or path")
    parser.add_argument("--show", choices=("all", "flagged", "none"), default="flagged")
    parser.add_argument("--kind", help="only entries of this kind (e.g. section:crm_faq)")
    parser.add_argument("--check", help="only replies flagged by this check")
    parser.add_argument(
        "--public-url",
        default="",
        help="KB_PUBLIC_URL: without it an entry with no helpdesk article has no link",
    )
    parser.add_argument("--limit", type=int, default=0, help="show at most N replies")
    args = parser.parse_args()
    kb = KnowledgeBase.load()
    counts: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    flagged_kinds: Counter[str] = Counter()
    shown = 0
    total = 0
    for case, answer, reply, lang in replies(kb, args.set or SETS, args.public_url):
        kind = kind_of(answer)
        if args.kind and not kind.startswith(args.kind):
            continue
        total += 1
        kinds[kind] += 1
        found = checks(answer, reply, case.get("lang", "ru"), lang)
        counts.update(found)
        if set(found) - {"no_link"}:
            flagged_kinds[kind] += 1
        if args.check and args.check not in found:
            continue
        if args.show == "all" or (args.show == "flagged" and found):
            if args.limit and shown >= args.limit:
                continue
            shown += 1
            print(f"=== {case['set']}/{case['id']} [{kind}] {found or 'ok'}\nQ: {case['q']}")
            print(reply, end="\n\n")
    print(f"replies audited: {total}")
    for name in (
        "too_long",
        "ends_colon",
        "ends_mid_sentence",
        "hanging_colon",
        "list_cut",
        "list_starts_mid",
        "table_garbled",
        "nav_noise",
        "label_split_off",
        "path_not_in_entry",
        "path_not_in_passage",
        "no_russian_note",
        "reply_language",
        "no_link",
    ):
        print(f"  {name:<22}{counts[name]:>5}")
    print("by entry kind (replies with a defect of the text, no_link aside / replies):")
    for kind, n in sorted(kinds.items()):
        print(f"  {kind:<36}{flagged_kinds[kind]:>4} / {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
