"""`helpbot kb explain` and `helpbot kb search` (issue 15, point 3): text for people, --json for
programs, both the knowledge base's own explanation and ranking."""

from __future__ import annotations

import json

import pytest

from bot.__main__ import main
from bot.why import describe_decision
from knowledge.base import KnowledgeBase

WRONG_LAYOUT = "rfr dscnfdbnm cxtn"  # «как выставить счет» typed with the English layout
TWO_FACTOR = "Как включить двухфакторную аутентификацию"


pytestmark = pytest.mark.usefixtures("no_cli_settings")


def test_explain_text_shows_the_repairs_candidates_and_rule(
    capsys: pytest.CaptureFixture[str], kb: KnowledgeBase
) -> None:
    assert main(["kb", "explain", WRONG_LAYOUT, "--limit", "3"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert "read as:   как выставить счет" in lines
    assert "repairs:   layout   rfr → как" in lines
    assert any("layout   dscnfdbnm → выставить" in line for line in lines)
    expected = kb.explain(WRONG_LAYOUT, limit=3)
    for candidate in expected.candidates:
        assert any(candidate.title in line and candidate.id in line for line in lines)
    assert sum(line.lstrip().startswith("bm25 ") and " = " in line for line in lines) == 3
    assert f"decision:  {expected.decision.action.value}" in lines
    assert lines[-1].strip() == describe_decision(expected.decision, "ru")
    assert err == ""


def test_explain_json_is_the_explanation(
    capsys: pytest.CaptureFixture[str], kb: KnowledgeBase
) -> None:
    assert main(["kb", "explain", "--json", "--limit", "2", TWO_FACTOR]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == kb.explain(TWO_FACTOR, limit=2).to_json()
    assert data["decision"]["action"] == "answer"
    assert len(data["candidates"]) == 2
    assert [c["threshold"] for c in data["decision"]["checks"]] == ["answer", "answer_lead"]


def test_explain_rule_in_another_language(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "explain", "--lang", "en", TWO_FACTOR]) == 0
    assert capsys.readouterr().out.splitlines()[-1].strip().startswith("answer: P(right)=")


def test_search_lists_the_top_entries(
    capsys: pytest.CaptureFixture[str], kb: KnowledgeBase
) -> None:
    assert main(["kb", "search", "--json", "--limit", "3", WRONG_LAYOUT]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = kb.search(WRONG_LAYOUT, 3)
    assert data["query"] == WRONG_LAYOUT
    assert [(m["id"], m["title"], m["score"], m["url"]) for m in data["matches"]] == [
        (m.entry.id, m.entry.title, m.score, m.entry.url) for m in expected
    ]
    assert [m["breadcrumb"] for m in data["matches"]] == [
        list(m.entry.breadcrumb) for m in expected
    ]
    assert main(["kb", "search", WRONG_LAYOUT, "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    ranked = [line for line in lines if line[:3].strip().rstrip(".").isdigit()]
    assert len(ranked) == 3
    for line, match in zip(ranked, expected, strict=True):
        assert f"{match.score:.2f}" in line and match.entry.title in line and match.entry.id in line
    for match in expected:
        assert not match.entry.url or any(line.strip() == match.entry.url for line in lines)


def test_search_that_finds_nothing_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "search", "qwzx plorf"]) == 0
    assert "no entry" in capsys.readouterr().out


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_limit_must_be_a_positive_number(capsys: pytest.CaptureFixture[str], limit: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["kb", "explain", "вопрос", "--limit", limit])
    assert exited.value.code == 2
    assert "--limit" in capsys.readouterr().err
