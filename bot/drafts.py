"""Draft articles from the gaps: for each group of questions the base could not answer and an
operator did, a Markdown file with front matter in the format KNOWLEDGE_DIR accepts (title, the
questions) and the operators' replies as its body, for an editor to finish and move there."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports import Gap
from bot.storage.models import Author, Message
from knowledge.slug import slugify, stable_hash

log = logging.getLogger(__name__)

MAX_TITLE = 120  # characters of the first question kept as the draft's title
MAX_REPLIES = 5  # operators' replies kept per draft, first ones first
MAX_REPLY = 4000


@dataclass(frozen=True, slots=True)
class Draft:
    """One draft article: its file name and text."""

    name: str
    text: str
    questions: int
    replies: int


async def operator_replies(
    session: AsyncSession, question_ids: Iterable[int]
) -> dict[int, list[str]]:
    """Question id → what operators wrote in the ticket that question went into, in order."""
    ids = list(question_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(Message.id, Message.ticket_id).where(
            Message.id.in_(ids), Message.ticket_id.is_not(None)
        )
    )
    tickets = {qid: tid for qid, tid in rows if tid is not None}
    if not tickets:
        return {}
    replies: dict[int, list[str]] = {}
    said = await session.execute(
        select(Message.ticket_id, Message.text)
        .where(Message.author == Author.OPERATOR, Message.ticket_id.in_(set(tickets.values())))
        .order_by(Message.id)
    )
    for ticket_id, text in said:
        if ticket_id is not None and text and text.strip():
            replies.setdefault(ticket_id, []).append(text.strip())
    return {qid: replies[tid] for qid, tid in tickets.items() if tid in replies}


def draft_for(gap: Gap, replies: dict[int, list[str]]) -> Draft | None:
    """The draft of one gap, or ``None`` when no operator answered any of its questions."""
    answers = list(dict.fromkeys(r for qid in gap.question_ids for r in replies.get(qid, ())))
    if not answers:
        return None
    title = _one_line(gap.example)[:MAX_TITLE].rstrip(" ?.!") or _one_line(gap.example)
    questions = [q for q in dict.fromkeys(_one_line(q) for q in gap.questions) if q]
    lines = [
        "---",
        "# A draft from `helpbot report gaps --drafts`: check the title and the questions, write",
        "# the text from the operators' replies below (remove anything personal), then move the",
        "# file into KNOWLEDGE_DIR and run `helpbot kb reload`.",
        f"title: {_quoted(title)}",
        "questions:",
        *(f"  - {_quoted(q)}" for q in questions),
        "---",
        "",
    ]
    for answer in answers[:MAX_REPLIES]:
        lines += [answer[:MAX_REPLY], ""]
    name = f"{slugify(title, 60)}-{stable_hash(title)}.md"
    return Draft(name, "\n".join(lines), len(questions), min(len(answers), MAX_REPLIES))


def write_drafts(drafts: Sequence[Draft], folder: Path) -> tuple[list[Path], list[Path]]:
    """Write each draft into ``folder`` (created); a file already there is an editor's work
    in progress and is kept. Returns (written, kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    kept: list[Path] = []
    for draft in drafts:
        path = folder / draft.name
        if path.exists():
            kept.append(path)
            continue
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(draft.text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    log.info("drafts written=%d kept=%d folder=%s", len(written), len(kept), folder)
    return written, kept


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _quoted(text: str) -> str:
    """A front-matter value: double quotes hold anything on one line (the parser strips the
    outer pair)."""
    return f'"{_one_line(text)}"'
