"""What a menu path is, which one an entry keeps, and where its breadcrumb comes from (issue 11).

Synthetic texts only: each test names the general rule that an entry got wrong before.
"""

from __future__ import annotations

import pytest

from knowledge.index import entry_fields
from knowledge.loader import load_noise_rules
from knowledge.model import Entry
from knowledge.noise import NoiseRules
from knowledge.parsing import parse_document, parse_helpdesk
from knowledge.parsing.common import extract_path, path_in


@pytest.fixture(scope="module")
def rules() -> NoiseRules:
    return load_noise_rules()


def test_a_filter_or_a_field_does_not_start_a_menu_path() -> None:
    assert extract_path(["5. **Фильтр > Триггеры в Битрикс24**"]) == ""
    assert path_in("Кликните на поле Фильтр > Группа или проект > Мои группы")[0] == ""
    assert extract_path(["Откройте CRM > Роботы и выберите триггер"]) == "CRM > Роботы"


def test_a_click_sequence_of_buttons_is_not_a_menu_path() -> None:
    assert extract_path(["Чтобы посмотреть, нажмите Открыть сайт > Открыть в новой вкладке"]) == ""
    # A button may end a path; only the start must be a place.
    assert extract_path(["Нажмите Дополнительно > Удалить мой Битрикс24"]) == (
        "Дополнительно > Удалить мой Битрикс24"
    )


def test_a_menu_item_that_is_a_noun_spelt_like_an_infinitive_starts_a_path() -> None:
    # «Печать», «Память» end like «открыть»; the dictionary reads them as nouns, places.
    assert extract_path(["Откройте Печать > Настройки печати > Поля."]) == (
        "Печать > Настройки печати > Поля"
    )
    assert extract_path(["Перейдите в Память > Очистить кэш"]) == "Память > Очистить кэш"
    assert extract_path(["Нажмите Сохранить > Закрыть"]) == ""


def test_screenshot_callout_numbers_are_not_menu_items() -> None:
    line = "Нажмите на виджет справа (1) и выберите Настройки (2) > Инструменты (3)"
    assert extract_path([line]) == "Настройки > Инструменты"


def test_a_path_alone_on_its_line_keeps_its_long_last_label() -> None:
    assert extract_path(
        ["Коммуникации > Разрешить блокировать документ во время редактирования"]
    ) == ("Коммуникации > Разрешить блокировать документ во время редактирования")
    assert extract_path(
        ["Дополнительно > Письма > Отслеживать переходы по ссылкам в исходящих письмах"]
    ) == ("Дополнительно > Письма > Отслеживать переходы по ссылкам в исходящих письмах")
    # The next instruction glued to the label still ends it.
    assert path_in("Безопасность > Включить Перейдите в раздел")[0] == "Безопасность > Включить"
    # Longer than a label: the sentence goes on, cut as inside one.
    long = "Настройки > Чаты > Создавать чат о просроченных задачах на всех ее участников."
    assert path_in(long)[0] == "Настройки > Чаты > Создавать чат о просроченных задачах"


def test_table_cells_joined_by_em_dashes_are_not_a_path() -> None:
    assert extract_path(["Цвет — Иконка — Значение"]) == ""
    assert extract_path(["Откройте CRM – Настройки – Права"]) == "CRM > Настройки > Права"


def test_a_page_keeps_the_path_that_names_its_subject() -> None:
    lines = [
        "Чтобы уволить сотрудников, нажмите",
        "Дополнительно > Удалить мой Битрикс24 > Уволить сотрудников",
        "Перейдите во вкладку",
        "Дополнительно > Удалить мой Битрикс24",
    ]
    assert (
        extract_path(lines, about="Как удалить Битрикс24")
        == "Дополнительно > Удалить мой Битрикс24"
    )
    assert extract_path(lines) == "Дополнительно > Удалить мой Битрикс24 > Уволить сотрудников"
    # Nothing names the subject: the first path, as without a title.
    assert extract_path(lines, about="Как сменить тему") == lines[1]


def test_a_titles_stop_words_and_the_products_name_are_no_subject() -> None:
    # «для», «как» and «Битрикс24» are in many titles and paths: only «включить» tells the task.
    lines = [
        "Настройки > Безопасность > Обязательно для всех в Битрикс24",
        "Безопасность > Включить",
    ]
    about = "Как включить защиту для входа в Битрикс24"
    assert extract_path(lines, about=about) == "Безопасность > Включить"


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


def test_a_help_desk_page_is_indexed_under_the_compilations_topic(rules: NoiseRules) -> None:
    text = _scraped("Общий чат компании", "06_AI_и_CoPilot", ["Мессенджер", "Мессенджер 3.0"])
    (entry,) = parse_helpdesk(text, "hd.md", rules).entries
    assert entry.category == "AI и CoPilot"
    assert entry_fields(entry)["breadcrumb"] == "AI и CoPilot"
    section = Entry(id="x", title="Раздел", source="doc.txt", breadcrumb=("Руководство", "Глава"))
    assert entry_fields(section)["breadcrumb"] == "Руководство Глава"
