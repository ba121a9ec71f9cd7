"""The data home (HELPBOT_HOME): where helpbot keeps its SQLite database, index cache and drafts,
and which configuration file it reads; the same wherever a command is run from."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CACHE_DIR",
    "CONFIG_ENV",
    "DATABASE_FILE",
    "DRAFTS_DIR",
    "HOME_ENV",
    "HomeState",
    "config_candidates",
    "config_file",
    "default_home",
    "inspect_home",
    "within",
]

APP = "helpbot"
HOME_ENV = "HELPBOT_HOME"
CONFIG_ENV = "HELPBOT_CONFIG"
# What lives in the home, as paths relative to it (settings may point elsewhere).
DATABASE_FILE = Path("helpbot.db")
CACHE_DIR = Path("cache")
DRAFTS_DIR = Path("drafts")
_CONFIG_NAME = "helpbot.env"


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user data folder: $XDG_DATA_HOME/helpbot, else ~/.local/share/helpbot
    (%LOCALAPPDATA%\\helpbot on Windows). HELPBOT_HOME, read by the settings, overrides it."""
    env = os.environ if environ is None else environ
    if os.name == "nt" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / APP
    xdg = env.get("XDG_DATA_HOME", "")
    # The XDG spec says a relative path is invalid and is to be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / APP


def within(home: Path, path: Path) -> Path:
    """``path`` made absolute: a relative one lies inside ``home``, ``~`` is expanded."""
    path = path.expanduser()
    return path if path.is_absolute() else home / path


def config_candidates(
    environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[Path, ...]:
    """Where a configuration file is looked for, in order: HELPBOT_CONFIG when set (only it),
    else ``.env`` in the current folder, else $XDG_CONFIG_HOME/helpbot/helpbot.env."""
    env = os.environ if environ is None else environ
    explicit = env.get(CONFIG_ENV, "")
    if explicit:
        return (Path(explicit).expanduser(),)
    xdg = env.get("XDG_CONFIG_HOME", "")
    config_home = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return ((cwd or Path.cwd()) / ".env", config_home / APP / _CONFIG_NAME)


def config_file(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """The first candidate that is a file, or ``None`` (settings then come from the environment
    alone). A HELPBOT_CONFIG that names no file is returned as is: the caller reports it."""
    env = os.environ if environ is None else environ
    candidates = config_candidates(env, cwd)
    if env.get(CONFIG_ENV):
        return candidates[0]
    return next((path for path in candidates if path.is_file()), None)


@dataclass(frozen=True, slots=True)
class HomeState:
    """What `helpbot doctor` reports about the data home."""

    path: Path
    exists: bool
    writable: bool
    problem: str = ""


def inspect_home(path: Path) -> HomeState:
    """Whether the home exists and a file can be created in it (or it can be created)."""
    if path.exists() and not path.is_dir():
        return HomeState(path, True, False, "is not a folder")
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), None)
        creatable = parent is not None and parent.is_dir() and os.access(parent, os.W_OK)
        problem = "" if creatable else f"cannot be created ({parent} is not writable)"
        return HomeState(path, False, creatable, problem)
    try:
        # os.access ignores read-only mounts and ACLs; creating a file does not.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return HomeState(path, True, False, f"not writable: {exc.strerror or exc}")
    return HomeState(path, True, True)
