"""`helpbot report gaps|stats`: what to write next in the knowledge base, and how the bot does."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from handlers.cli import figures
from handlers.cli._runner import run, settings_or_exit
from handlers.settings import Settings

if TYPE_CHECKING:  # the database's modules are imported when a report runs
    from bot import reports
    from bot.operator_stats import OperatorFigures


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="question gaps and conversation statistics")
    report_sub = report.add_subparsers(dest="report_command", metavar="REPORT", required=True)
    gaps = report_sub.add_parser("gaps", help="escalated and «не помогло» questions, grouped")
    stats = report_sub.add_parser("stats", help="messages, decisions, rates, ratings, queue times")
    for command in (gaps, stats):
        command.add_argument("--since", help="from this date or time (HOURS_TIMEZONE if no zone)")
        command.add_argument("--until", help="before this date or time (a date means its end)")
        command.add_argument("--json", action="store_true", help="print JSON")
    figures.add_format(stats)
    gaps.add_argument("--threshold", type=float, default=75.0, help="similarity 0-100 to group")
    gaps.add_argument("--limit", type=int, default=20, help="groups to show")
    gaps.add_argument(
        "--drafts",
        action="store_true",
        help="also write a draft article for each group an operator answered (data home drafts/)",
    )
    gaps.set_defaults(func=lambda a: run(_gaps(a)))
    stats.set_defaults(func=lambda a: run(_stats(a)))


def _when(value: str | None, settings: Settings, *, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SystemExit(f"error: {value!r} is not a date (YYYY-MM-DD) or time") from None
    if end and len(value) <= 10:  # a bare date means up to its end
        parsed = datetime.combine(parsed.date() + timedelta(days=1), time())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(settings.hours.timezone))
    return parsed


async def _gaps(args: argparse.Namespace) -> int:
    from bot import drafts, reports
    from bot.app import build

    settings = settings_or_exit()
    since, until = _when(args.since, settings, end=False), _when(args.until, settings, end=True)
    async with build(settings) as app:
        services = await app.services()
        found = await reports.gaps(
            services.sessions, services.kb, since=since, until=until, threshold=args.threshold
        )
        if args.drafts:
            async with services.sessions() as session:
                ids = [qid for gap in found for qid in gap.question_ids]
                replies = await drafts.operator_replies(session, ids)
            made = [d for gap in found if (d := drafts.draft_for(gap, replies)) is not None]
            written, kept = drafts.write_drafts(made, settings.drafts_dir)
            print(
                f"{len(written)} draft(s) written, {len(kept)} already there (kept) in "
                f"{settings.drafts_dir}: finish them and move them into KNOWLEDGE_DIR",
                file=sys.stderr,
            )
    found = found[: args.limit]
    if args.json:
        print(json.dumps([_gap_json(g) for g in found], ensure_ascii=False, indent=2))
        return 0
    for gap in found:
        why = ", ".join(f"{k} {v}" for k, v in sorted(gap.reasons.items()))
        print(f"{gap.count:>4}  {gap.example[:100]}  ({why})")
        for wording in gap.questions[1:]:
            print(f"      ~ {wording[:100]}")
        if gap.closest_id:
            print(f"      closest: {gap.closest_title} [{gap.closest_id}] {gap.closest_score:.2f}")
    print(f"{len(found)} group(s)")
    return 0


def _gap_json(gap: reports.Gap) -> dict[str, Any]:
    return {
        "count": gap.count,
        "example": gap.example,
        "questions": gap.questions,
        "reasons": dict(gap.reasons),
        "closest": {"id": gap.closest_id, "title": gap.closest_title, "score": gap.closest_score}
        if gap.closest_id
        else None,
    }


async def _stats(args: argparse.Namespace) -> int:
    from bot import reports
    from bot.app import build
    from bot.operator_stats import per_operator

    settings = settings_or_exit()
    since, until = _when(args.since, settings, end=False), _when(args.until, settings, end=True)
    async with build(settings) as app:
        db = await app.database()
        result = await reports.stats(db.sessions, since=since, until=until)
        async with db.sessions() as session:
            operators = await per_operator(session, since, until)
    fmt = "json" if args.json else args.format
    figures.emit(_stats_rows(result, operators), fmt, settings.conversation.language)
    return 0


def _stats_rows(s: reports.Stats, operators: tuple[OperatorFigures, ...]) -> figures.Rows:
    return [
        ("since", s.since.isoformat() if s.since else None),
        ("until", s.until.isoformat() if s.until else None),
        ("messages", s.messages),
        ("decisions", s.decisions),
        ("questions", s.questions),
        ("resolution_rate", s.resolution_rate),
        ("handoff_rate", s.handoff_rate),
        ("tickets", s.tickets),
        ("helpful_ratio", s.helpful_ratio),
        ("feedback", {"helpful": s.helpful, "not_helpful": s.not_helpful}),
        ("ratings", figures.ratings(s.ratings)),
        ("median_wait", s.median_wait),
        ("median_first_response", s.median_first_response),
        ("operators", figures.operator_rows(operators)),
    ]
