"""What a menu path is, which one an entry keeps, and where its breadcrumb comes from (issue 11).

Synthetic texts only: each test names the general rule that an entry got wrong before.
"""

from __future__ import annotations

import pytest

from knowledge.loader import load_noise_rules
from knowledge.noise import NoiseRules
from knowledge.parsing import parse_document


@pytest.fixture(scope="module")
def rules() -> NoiseRules:
    return load_noise_rules()


def test_a_chapter_heading_right_after_a_table_is_a_chapter(rules: NoiseRules) -> None:
    text = (
        "Руководство\n\n\nГлава про выбор\n\nВступление главы.\n\nРаздел про сценарии\n\n"
        "Сценарий Причина\nМаленькая компания Много функций\nБольшая компания Цена\n\n"
        "Глава про внедрение\n\nТекст главы.\n\nРаздел про ошибки\n\nТекст раздела.\n"
    )
    crumbs = {e.title: e.breadcrumb for e in parse_document(text, "doc.txt", rules)}
    assert crumbs["Глава про внедрение"] == ("Руководство",)
    assert crumbs["Раздел про ошибки"] == ("Руководство", "Глава про внедрение")
    assert crumbs["Раздел про сценарии"] == ("Руководство", "Глава про выбор")
