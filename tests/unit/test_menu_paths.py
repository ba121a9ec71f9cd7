"""What a menu path is, which one an entry keeps, and where its breadcrumb comes from (issue 11).

Synthetic texts only: each test names the general rule that an entry got wrong before.
"""

from __future__ import annotations

import pytest

from knowledge.loader import load_noise_rules
from knowledge.noise import NoiseRules
from knowledge.parsing import parse_document, parse_helpdesk


@pytest.fixture(scope="module")
def rules() -> NoiseRules:
    return load_noise_rules()


def _scraped(title: str, category: str, trail: list[str]) -> str:
    header = "\n".join(["Вход", "Поддержка24", "Поддержка24", *trail, title])
    return (
        f'---\ntitle: "{title}"\ncategory: {category}\n'
        "source: https://helpdesk.bitrix24.ru/open/7/\n---\n\n"
        f"# {title}\n\n## Материал\n\n{header}\n"
        "Автор: Автор Статьи\nПоследнее обновление: 1 июня 2025 г.\n"
        "Текст статьи о том, как это сделать.\n"
    )


def test_a_scraped_page_is_filed_under_the_help_desks_own_trail(rules: NoiseRules) -> None:
    text = _scraped("Общий чат компании", "06_AI_и_CoPilot", ["Мессенджер", "Мессенджер 3.0"])
    (entry,) = parse_helpdesk(text, "hd.md", rules).entries
    assert entry.breadcrumb == ("Мессенджер", "Мессенджер 3.0")


def test_a_page_without_its_trail_keeps_the_compilations_category(rules: NoiseRules) -> None:
    text = (
        '---\ntitle: "Что такое CRM-формы"\ncategory: 02_CRM_формы\n---\n\n'
        "# Что такое CRM-формы\n\n## Материал\n\nCRM-формы собирают заявки с сайта.\n"
    )
    (entry,) = parse_helpdesk(text, "hd.md", rules).entries
    assert entry.breadcrumb == ("CRM формы",)


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
