"""Changing the knowledge base of real `helpbot serve` processes, with no restart.

A stream of questions goes to the help center's search (the chat's engine) the whole time; the
company article is edited, then `helpbot kb reload` (a process of its own) and SIGHUP ask for a
reload. Every question gets its page, the answers move from the old text to the new and never
back, and /readyz names the version `kb reload` announced. With two replicas on one PostgreSQL
database, a reload asked by either reaches both.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from deadline import until

CACHE = Path(__file__).parents[2] / "var" / "cache"
QUESTION = "заявление на отпуск в компании Ромашка"
ARTICLE = """---
title: Как оформить отпуск в компании Ромашка
questions:
  - заявление на отпуск
---
Отпуск оформляется в разделе {word}: заявление подписывает руководитель.
"""
WORDS = ("ZEBRA", "OKAPI", "LLAMA")  # the article's versions, in order; nowhere else in the base
START_DEADLINE = 240.0  # a loaded 2-core machine starts two Pythons slowly
RELOAD_DEADLINE = 120.0
SYNC_SECONDS = 3600.0  # no look of its own in a test's time: an ask must wake the servers


@dataclass
class Server:
    name: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(db_url: str, folder: Path, port: int = 0, name: str = "") -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "HELPBOT_HOME")
    keep += ("XDG_DATA_HOME", "XDG_CONFIG_HOME")  # the run's own (tests/conftest.py)
    return {k: v for k, v in os.environ.items() if k in keep} | {
        "DATABASE_URL": db_url,
        "KNOWLEDGE_DIR": str(folder),
        "KNOWLEDGE_CACHE_DIR": str(CACHE),
        "KB_SYNC_SECONDS": str(SYNC_SECONDS),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "REPLICA_ID": name,
    }


def _write(folder: Path, word: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "vacation.md").write_text(ARTICLE.format(word=word), encoding="utf-8")


@contextmanager
def serving(db_url: str, folder: Path, names: tuple[str, ...]) -> Iterator[list[Server]]:
    """``helpbot serve`` processes, each SIGKILLed and reaped whatever happens."""
    with ExitStack() as stack:
        servers = []
        for name in names:
            server = Server(name, _free_port(), folder.parent / f"{name}.log")
            out = stack.enter_context(server.log.open("ab"))
            server.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve"],
                env=_env(db_url, folder, server.port, name),
                cwd=folder.parent,  # no stray .env from the working tree
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_reap, server.proc)
            servers.append(server)
        yield servers


def _reap(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def _tails(servers: list[Server]) -> str:
    return "".join(
        f"\n--- {s.name} ---\n{s.log.read_text(errors='replace')[-3000:]}" for s in servers
    )


async def _until(
    check: Callable[[], Awaitable[bool]], what: str, seconds: float, servers: list[Server]
) -> None:
    async def alive_and_done() -> bool:
        for s in servers:
            assert s.proc is not None and s.proc.poll() is None, f"{s.name} exited{_tails([s])}"
        return await check()

    await until(alive_and_done, what, seconds, detail=lambda: _tails(servers))


async def _knowledge(http: aiohttp.ClientSession, server: Server) -> dict[str, object] | None:
    with suppress(aiohttp.ClientError):
        async with http.get(server.url + "/readyz") as response:
            if response.status == 200:
                found: dict[str, object] = (await response.json())["knowledge"]
                return found
    return None


async def _hash_is(http: aiohttp.ClientSession, server: Server, wanted: str) -> bool:
    found = await _knowledge(http, server)
    return found is not None and found["hash"] == wanted


async def _kb_reload(db_url: str, folder: Path) -> str:
    """Run `helpbot kb reload`; the version it says every server will load."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "kb",
        "reload",
        env=_env(db_url, folder),
        cwd=folder.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode(errors="replace")
    found = re.search(r"loads version ([0-9a-f]{12})", out.decode())
    assert found, out.decode()
    return found.group(1)


class Stream:
    """Asks the search page one question after another; notes each status and the word of the
    article version its best answer showed."""

    def __init__(self, http: aiohttp.ClientSession, servers: list[Server]) -> None:
        self.http, self.servers = http, servers
        self.seen: list[tuple[int, str]] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            server = self.servers[n % len(self.servers)]
            # A different question each time: no page comes from the cache.
            params = {"q": f"{QUESTION} {n}"}
            async with self.http.get(server.url + "/kb/search", params=params) as response:
                page = await response.text()
            best = page.split('class="best"', 1)[-1].split("</section>", 1)[0]
            word = next((w for w in WORDS if w in best), "?")
            self.seen.append((response.status, word))
            n += 1

    def words(self) -> list[str]:
        """The versions answered, in order, repeats dropped."""
        out: list[str] = []
        for _, word in self.seen:
            if not out or out[-1] != word:
                out.append(word)
        return out


async def test_kb_reload_and_sighup_change_a_running_server(
    tmp_path: Path, sqlite_db_url: str
) -> None:
    folder = tmp_path / "articles"
    _write(folder, WORDS[0])
    with serving(sqlite_db_url, folder, ("solo",)) as servers:
        (server,) = servers
        async with aiohttp.ClientSession() as http:
            await _until(lambda: _knowledge_ready(http, server), "ready", START_DEADLINE, servers)
            stream = Stream(http, servers)
            task = asyncio.create_task(stream.run())  # owned: stopped and awaited below
            try:
                await _until(lambda: _asked(stream, 5), "first answers", 30, servers)
                _write(folder, WORDS[1])
                announced = await _kb_reload(sqlite_db_url, folder)
                await _until(
                    lambda: _hash_is(http, server, announced), "kb reload", RELOAD_DEADLINE, servers
                )
                after_reload = len(stream.seen)
                _write(folder, WORDS[2])
                assert server.proc is not None
                server.proc.send_signal(signal.SIGHUP)
                await _until(
                    lambda: _hash_changed(http, server, announced),
                    "SIGHUP",
                    RELOAD_DEADLINE,
                    servers,
                )
                after_hup = len(stream.seen)
                await _until(lambda: _asked(stream, after_hup + 5), "last answers", 30, servers)
            finally:
                stream.stop.set()
                await task
    assert all(status == 200 for status, _ in stream.seen), stream.seen
    assert stream.words() == list(WORDS), stream.words()
    assert all(word != WORDS[0] for _, word in stream.seen[after_reload:])
    assert all(word == WORDS[2] for _, word in stream.seen[after_hup:])
    log = server.log.read_text(errors="replace")
    assert "knowledge base reloaded reason=asked elsewhere" in log
    assert "knowledge base reloaded reason=SIGHUP" in log


async def test_a_reload_reaches_every_replica_on_postgresql(tmp_path: Path, pg_db_url: str) -> None:
    folder = tmp_path / "articles"
    _write(folder, WORDS[0])
    with serving(pg_db_url, folder, ("one", "two")) as servers:
        async with aiohttp.ClientSession() as http:
            for server in servers:
                await _until(
                    lambda s=server: _knowledge_ready(http, s), "ready", START_DEADLINE, servers
                )
            _write(folder, WORDS[1])
            announced = await _kb_reload(pg_db_url, folder)
            for server in servers:
                await _until(
                    lambda s=server: _hash_is(http, s, announced),
                    f"kb reload on {server.name}",
                    RELOAD_DEADLINE,
                    servers,
                )
            _write(folder, WORDS[2])
            one, two = servers
            assert one.proc is not None
            one.proc.send_signal(signal.SIGHUP)  # to one replica only
            await _until(
                lambda: _hash_changed(http, one, announced), "SIGHUP", RELOAD_DEADLINE, servers
            )
            newest = await _knowledge(http, one)
            assert newest is not None
            await _until(
                lambda: _hash_is(http, two, str(newest["hash"])),
                "the other replica following",
                RELOAD_DEADLINE,
                servers,
            )
            params = {"q": QUESTION}
            for server in servers:
                async with http.get(server.url + "/kb/search", params=params) as response:
                    page = await response.text()
                assert WORDS[2] in page
                assert f"Версия базы знаний {newest['hash']} от " in page  # the footer
    assert "reason=asked elsewhere" in two.log.read_text(errors="replace")


async def _knowledge_ready(http: aiohttp.ClientSession, server: Server) -> bool:
    return await _knowledge(http, server) is not None


async def _hash_changed(http: aiohttp.ClientSession, server: Server, old: str) -> bool:
    found = await _knowledge(http, server)
    return found is not None and found["hash"] != old


async def _asked(stream: Stream, count: int) -> bool:
    return len(stream.seen) >= count
