"""`helpbot` run as a process on a fresh machine: through pipes, or at a terminal (a pseudo-
terminal of the given width) that a test types into and reads from against a deadline."""

from __future__ import annotations

import codecs
import os
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from bot.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def helpbot(
    *args: str, env: dict[str, str], stdin: bytes = b"", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``helpbot args`` with ``env`` (its ``_CWD`` is the folder it runs in)."""
    out = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        check=False,
        cwd=env.get("_CWD", ROOT),
        env=_process_env(env),
        timeout=timeout,
    )
    return subprocess.CompletedProcess(
        out.args, out.returncode, out.stdout.decode(), out.stderr.decode()
    )


def helpbot_here(
    *args: str,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> subprocess.CompletedProcess[str]:
    """``helpbot args`` in this process, in exactly the environment and folder :func:`helpbot`
    gives its process (nothing else of this process's environment is seen): for a command
    whose own start-up a test does not look at, where a process of its own would only cost a
    cold start (0.3–1 s of CPU, ~4.5 s with the channels' renderers: aiogram, which this
    process has imported already)."""
    wanted = _process_env(env)
    with monkeypatch.context() as patch:
        for name in [n for n in os.environ if n not in wanted]:
            patch.delenv(name)
        for name, value in wanted.items():
            patch.setenv(name, value)
        patch.chdir(env.get("_CWD", ROOT))
        capsys.readouterr()  # only this command's output
        code = main(list(args))
        out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["helpbot", *args], code, out, err)


def fresh_env(folder: Path) -> dict[str, str]:
    """The environment of a fresh machine: a data home of its own, no channel, no articles."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_CONFIG_HOME")
    base = {k: v for k, v in os.environ.items() if k in keep}
    return base | {"HELPBOT_HOME": str(folder / "home"), "_CWD": str(folder)}


class Terminal:
    """``helpbot args`` at a terminal ``columns`` wide: what a person types and sees."""

    def __init__(self, *args: str, env: dict[str, str], columns: int = 80) -> None:
        self._master, slave = os.openpty()
        termios.tcsetwinsize(slave, (24, columns))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=env.get("_CWD", ROOT),
            env=_process_env(env),
            start_new_session=True,
        )
        os.close(slave)
        self.screen = ""
        self._ended = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def type(self, text: str) -> None:
        os.write(self._master, text.encode())

    def wait_for(self, text: str, count: int = 1, timeout: float = 120) -> str:
        """The screen once ``text`` shows ``count`` times on it; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.screen.count(text) < count and not self._ended:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} did not show {count} time(s); the screen:\n{self.screen}"
            self._read(min(left, 1.0))
        assert self.screen.count(text) >= count, f"{text!r} missing; the screen:\n{self.screen}"
        return self.screen

    def close(self, timeout: float = 60) -> int:
        """The exit code, once the process has ended (the rest of its output read)."""
        code = self.proc.wait(timeout=timeout)
        while not self._ended and self._read(0.5):
            pass
        os.close(self._master)
        return code

    def _read(self, seconds: float) -> bool:
        """Whether anything came within ``seconds``."""
        ready, _, _ = select.select([self._master], [], [], seconds)
        if not ready:
            return False
        try:
            data = os.read(self._master, 65536)
        except OSError:  # the process ended: its side of the terminal is closed
            data = b""
        self._ended = not data
        self.screen += self._decoder.decode(data).replace("\r\n", "\n")
        return bool(data)


def _process_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("_")}


def sqlite_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the CLI at a fresh SQLite file under ``tmp_path`` (no DATABASE_URL, no stray .env)."""
    path = tmp_path / "var" / "helpbot.db"
    monkeypatch.setenv("DATABASE_SQLITE_PATH", str(path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    return path


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``helpbot argv`` in this process: exit code, standard output, standard error."""
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err
