"""The benchmark scripts under bench/ loaded as modules, for tests of what they compute."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"


@cache
def bench(name: str) -> ModuleType:
    """``bench/<name>.py`` as a module (loaded once per test session)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import does: a dataclass of the script looks its module up.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
