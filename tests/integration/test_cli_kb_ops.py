"""`helpbot kb approve|reject|suggestions|reload` as processes on a fresh machine: a verdict is
checked against the base, an approved phrasing is part of the version `kb reload` announces."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cli_process import fresh_env, helpbot

from knowledge.holder import content_hash
from knowledge.loader import load_corpus

ENTRY = "zebra--ukhod-za-zebroy-v-ofise"
PHRASING = "чем питается полосатая лошадка"


def test_approve_reject_suggestions_and_reload(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "zebra.md").write_text(
        "---\ntitle: Уход за зеброй в офисе\n---\nЗебру кормят сеном.\n", encoding="utf-8"
    )
    env = fresh_env(tmp_path) | {"KNOWLEDGE_DIR": str(folder)}
    assert helpbot("db", "upgrade", env=env).returncode == 0

    unknown = helpbot("kb", "approve", "no-such-entry", PHRASING, env=env)
    assert unknown.returncode == 2 and "no entry 'no-such-entry'" in unknown.stderr

    approved = helpbot("kb", "approve", ENTRY, f"  {PHRASING} ", "--reload", env=env)
    assert approved.returncode == 0, approved.stderr
    announced = re.search(r"reload #1 asked: every server loads version (\w+)", approved.stdout)
    expected = content_hash(load_corpus(folder, phrasings={ENTRY: [PHRASING]}).entries)
    assert announced is not None and announced.group(1) == expected
    assert expected != content_hash(load_corpus(folder).entries)

    rejected = helpbot("kb", "reject", ENTRY, "зебры", env=env)
    assert rejected.returncode == 0 and "rejected" in rejected.stdout
    again = helpbot("kb", "reload", env=env)
    assert (
        again.returncode == 0
        and f"reload #2 asked: every server loads version {expected}" in again.stdout
    )

    listed = helpbot("kb", "suggestions", "--json", env=env)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []  # no conversations yet
