"""The cache of word keys between processes: written, reused, ignored when stale or broken."""

from __future__ import annotations

import json
from pathlib import Path

from knowledge.base import KnowledgeBase
from knowledge.loader import read_key_cache, write_key_cache
from knowledge.model import Entry
from knowledge.text import Morphology

ENTRIES = [
    Entry(id="a", title="Как восстановить пароль", source="t", body="Нажмите «Не помню пароль»."),
    Entry(id="b", title="Как создать сделку", source="t", body="Откройте CRM и нажмите Создать."),
]


def test_keys_round_trip_and_a_wrong_fingerprint_finds_nothing(tmp_path: Path) -> None:
    write_key_cache(tmp_path, "v1", {"сделок|": "сделк"})
    assert read_key_cache(tmp_path, "v1") == {"сделок|": "сделк"}
    assert read_key_cache(tmp_path, "v2") == {}


def test_a_broken_cache_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "keys-v1.json").write_text("{not json", encoding="utf-8")
    assert read_key_cache(tmp_path, "v1") == {}
    (tmp_path / "keys-v1.json").write_text(json.dumps(["a list"]), encoding="utf-8")
    assert read_key_cache(tmp_path, "v1") == {}


def test_an_unwritable_cache_folder_only_costs_time(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    write_key_cache(blocker / "cache", "v1", {"a|": "a"})  # no exception
    assert read_key_cache(blocker / "cache", "v1") == {}


def test_a_build_saves_keys_that_the_next_build_reuses(tmp_path: Path) -> None:
    from knowledge.loader import Corpus

    corpus = Corpus(tuple(ENTRIES))
    first = KnowledgeBase.from_corpus(corpus, tmp_path)
    saved = read_key_cache(tmp_path, Morphology.fingerprint())
    assert saved.get("пароль|") == "парол"
    second = KnowledgeBase.from_corpus(corpus, tmp_path)
    question = "как восстановить пароль"
    assert first.decide(question).matches[0].entry.id == "a"
    assert second.decide(question).matches[0].entry.id == "a"
