"""The ranking cross-validation sets a variant's constants in every ranking module holding them."""

from __future__ import annotations

from types import ModuleType

import pytest
from benches import bench

from knowledge import index as index_module
from knowledge import matcher as matcher_module


@pytest.fixture(scope="module")
def ranking_cv() -> ModuleType:
    return bench("ranking_cv")


def test_a_constant_no_ranking_module_holds_is_named_in_the_error(ranking_cv: ModuleType) -> None:
    with pytest.raises(ValueError, match="PREFIX_FACTR"):
        ranking_cv._owner("PREFIX_FACTR")


def test_a_constant_of_the_index_is_set_in_the_index_and_in_the_matcher_s_copy(
    ranking_cv: ModuleType,
) -> None:
    shipped = index_module.PREFIX_FACTOR
    assert ranking_cv._owner("PREFIX_FACTOR") in (index_module, matcher_module)
    try:
        ranking_cv._set_constants((("PREFIX_FACTOR", 0.25),))
        assert index_module.PREFIX_FACTOR == matcher_module.PREFIX_FACTOR == 0.25
    finally:
        ranking_cv._set_constants((("PREFIX_FACTOR", shipped),))
    assert index_module.PREFIX_FACTOR == matcher_module.PREFIX_FACTOR == shipped
