"""Reads the engine's dictionaries shipped as data files in ``knowledge/data/``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


@cache
def read_data_lines(name: str) -> tuple[str, ...]:
    """Non-empty lines of a data file, without '#' comment lines and trailing whitespace."""
    text = (DATA_DIR / name).read_text(encoding="utf-8")
    lines = (line.rstrip("\r\n").rstrip(" ") for line in text.splitlines())
    return tuple(line for line in lines if line.strip() and not line.startswith("#"))
