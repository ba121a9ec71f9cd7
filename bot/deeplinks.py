"""Links to knowledge-base entries: where an answer sends a person to read more (the entry's
helpdesk article, else its page in the help center). A channel's own links into the bot (the
Telegram start tokens) are the channel's: ``handlers/telegram/startlinks.py``."""

from __future__ import annotations

from urllib.parse import quote

from knowledge.model import Entry, Link

HELP_CENTER_PATH = "/kb"  # where `helpbot serve` serves the help center


def entry_link(entry: Entry, public_url: str) -> Link | None:
    """The link an answer from ``entry`` carries: its helpdesk article when it has one, else its
    help-center page under ``public_url`` (KB_PUBLIC_URL), else none (no public address set)."""
    if entry.url:
        return Link(entry.title, entry.url)
    if public_url:
        return Link(entry.title, help_center_url(public_url, entry.id))
    return None


def help_center_url(public_url: str, entry_id: str) -> str:
    """``<public_url>/kb/<id>``: the entry's page in the help center."""
    return f"{public_url.rstrip('/')}{HELP_CENTER_PATH}/{quote(entry_id, safe='')}"
