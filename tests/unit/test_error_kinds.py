"""bench/errors.py: how two entries stand in the documents, and the kind a failure is put in."""

from __future__ import annotations

from benches import bench

from knowledge.model import Entry

DOC = "Методическое пособие"
CHAPTER = Entry("ch", "13. Диск", "manual", "section", breadcrumb=(DOC,))
SECTION = Entry("s1", "Настройки", "manual", "section", breadcrumb=(DOC, "13. Диск"))
SIBLING = Entry("s2", "История", "manual", "section", breadcrumb=(DOC, "13. Диск"))
ELSEWHERE = Entry("s3", "Роли", "manual", "section", breadcrumb=(DOC, "4. Права"))
ARTICLE = Entry("a", "Как заблокировать документ", "helpdesk", url="https://example.org/open/1/")


def test_entries_are_related_by_their_place_in_one_document() -> None:
    related = bench("errors").related
    assert related(CHAPTER, SECTION) == related(SECTION, CHAPTER) == "chapter"
    assert related(SECTION, SIBLING) == "siblings"
    assert related(SECTION, ELSEWHERE) == "same document"
    assert related(ARTICLE, SECTION) == ""


def test_a_failure_goes_to_the_first_kind_that_applies() -> None:
    errors = bench("errors")
    ru = {"q": "что будет с файлами", "lang": "ru", "kind": "paraphrase"}
    assert errors.wrong_kind({**ru, "lang": "ro"}, [CHAPTER, SECTION], [False, True]).startswith(
        "English"
    )
    assert "sibling" in errors.wrong_kind(ru, [CHAPTER, SECTION], [False, True])
    assert "neighbouring" in errors.wrong_kind(ru, [ARTICLE, SECTION], [False, True])
    assert "paraphrase" in errors.wrong_kind(ru, [ARTICLE] * 6, [False] * 5 + [True])
    entries = [SECTION, SIBLING, ARTICLE]
    assert "right too" in errors.needless_kind(ru, entries, [True, True, False], 0.0)
    assert "sibling" in errors.needless_kind(ru, entries, [True, False, False], 0.1)
    typo = {**ru, "kind": "typo"}
    assert "repair" in errors.needless_kind(typo, [ARTICLE, SECTION], [True, False], 0.1)
    assert "tie" in errors.needless_kind(ru, [ARTICLE, SECTION], [True, False], 0.01)
    assert "paraphrase" in errors.needless_kind(ru, [ARTICLE, SECTION], [True, False], 0.1)
