"""The help center in a real browser (issue 15): a real `helpbot serve` with no chat channel
configured, read by Debian's Chromium, headless, at a phone's width (390×844).

Screenshots must be real pages, not blank ones: the right size, many colours, and some but not
too much dark ink. ``--dump-dom`` shows what the browser parsed. The screenshots are kept in the
test's temporary folder (pytest prints it on failure) for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from knowledge.loader import load_corpus

ROOT = Path(__file__).resolve().parents[2]
PHONE = (390, 844)
START_DEADLINE = 90.0  # a cold start builds the index; CI machines are shared
BROWSER_TIMEOUT = 90.0
DELETE = "Как удалить Битрикс24"  # a helpdesk article with steps and a menu path
PASSWORD = "Как восстановить пароль от Битрикс24"
WRONG_LAYOUT = "rfr djccnfyjdbnm gfhjkm"  # «как восстановить пароль» typed on a Latin layout
COMPANY_TITLE = "Как оформить возврат оплаты"
COMPANY_ARTICLE = f"""---
title: {COMPANY_TITLE}
path: Компания > Бухгалтерия > Возвраты
questions: [как вернуть деньги клиенту]
---
Возврат оформляет бухгалтерия в течение трёх рабочих дней после заявки клиента.

1. Откройте карточку сделки.
2. Нажмите «Оформить возврат» и укажите сумму.
"""


@dataclass
class Server:
    url: str
    public_url: str
    log: Path
    tmp: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        message = "the browser tests need Debian's chromium (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)  # .ci/run installs it: missing there is a broken CI
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`helpbot serve` on a loopback port: the shipped corpus plus one company article."""
    tmp = tmp_path_factory.mktemp("helpcenter")
    articles = tmp / "articles" / "billing"
    articles.mkdir(parents=True)
    (articles / "refunds.md").write_text(COMPANY_ARTICLE, encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    keep += ("XDG_DATA_HOME", "XDG_CONFIG_HOME")  # the run's own (tests/conftest.py)
    env = {k: v for k, v in os.environ.items() if k in keep} | {
        "HELPBOT_HOME": str(tmp / "home"),
        "DATABASE_SQLITE_PATH": str(tmp / "helpbot.db"),
        "KNOWLEDGE_DIR": str(tmp / "articles"),
        "KNOWLEDGE_CACHE_DIR": str(ROOT / "var" / "cache"),
        "KB_PUBLIC_URL": url,
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
    }
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            env=env,
            cwd=tmp,  # no stray .env from the working tree
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(url + "/healthz", proc, log)
        yield Server(url, url, log, tmp, env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serve_runs_the_help_center_without_any_chat_channel(server: Server) -> None:
    said = server.log.read_text(encoding="utf-8")
    assert "only the help center is served" in said and "help center at /kb/" in said
    status, body = _get(server.url + "/readyz")
    assert status == 200 and json.loads(body)["channels"] == []


def test_an_entry_page_reads_well_on_a_phone(server: Server, chromium: str) -> None:
    dom = _on_a_phone(chromium, server, f"/kb/{quote(_entry_id(DELETE))}", "entry.png")
    assert f"<h1>{DELETE}</h1>" in dom
    assert 'href="./#helpdesk-articles">Статьи справки Битрикс24</a>' in dom
    assert '<ol class="steps">' in dom and 'class="path">Где: ' in dom
    assert 'href="https://helpdesk.bitrix24.ru/open/' in dom  # the original article


def test_search_reads_a_wrong_layout_on_a_phone(server: Server, chromium: str) -> None:
    dom = _on_a_phone(chromium, server, f"/kb/search?q={quote(WRONG_LAYOUT)}", "search.png")
    assert f'<h1 class="query">Поиск: {WRONG_LAYOUT}</h1>' in dom
    best = dom.split('<section class="best">', 1)[1].split("</section>", 1)[0]
    assert f">{PASSWORD}</a>" in best
    assert dom.count('<li>\n    <a class="title"') >= 1  # more entries on the topic


def test_a_company_article_has_its_page_and_answers_link_to_it(
    server: Server, chromium: str
) -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "как вернуть деньги клиенту"],
        env=server.env,
        cwd=server.tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    link = next(line for line in answer.splitlines() if line.startswith(f"{COMPANY_TITLE}: "))
    page = link.split(": ", 1)[1]
    assert page.startswith(f"{server.public_url}/kb/")
    dom = _browse(chromium, page, server.tmp, "--dump-dom")
    assert f"<h1>{COMPANY_TITLE}</h1>" in dom and "Статьи компании" in dom
    assert "Нажмите «Оформить возврат» и укажите сумму." in dom
    contents = _browse(chromium, f"{server.url}/kb/", server.tmp, "--dump-dom")
    assert contents.index('id="helpdesk-articles"') < contents.index('id="company"')
    assert f">{COMPANY_TITLE}</a>" in contents


def _on_a_phone(chromium: str, server: Server, path: str, name: str) -> str:
    """Screenshot ``path`` at a phone's size into the test folder, check it shows a real page,
    and return the page's DOM as the browser parsed it (one run of the browser does both)."""
    shot = server.tmp / name
    size = f"--window-size={PHONE[0]},{PHONE[1]}"
    dom = _browse(
        chromium, server.url + path, server.tmp, f"--screenshot={shot}", size, "--dump-dom"
    )
    _assert_a_real_page(shot)
    return dom


def _entry_id(title: str) -> str:
    return next(e.id for e in load_corpus().entries if e.title == title)


def _browse(chromium: str, url: str, tmp: Path, *args: str) -> str:
    """Run headless Chromium once on ``url`` with a fresh profile; its standard output."""
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    command = [
        chromium,
        "--headless",
        "--no-sandbox",  # root on CI
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _assert_a_real_page(path: Path) -> None:
    width, height, pixels = _read_png(path.read_bytes())
    assert (width, height) == PHONE
    assert len(set(pixels)) >= 24, "a blank or flat screenshot"
    ink = sum(1 for r, g, b in pixels if r + g + b < 200) / len(pixels)
    assert 0.01 < ink < 0.6, f"dark share {ink:.3f}: no text, or a dark page"


def _read_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "an unexpected PNG layout"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                corner = previous[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
        pixels.extend((line[i], line[i + 1], line[i + 2]) for i in range(0, stride, bpp))
        previous = line
    return width, height, pixels


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll the health route against a deadline; fail with the server's log if it died."""
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"helpbot serve exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if _get(url)[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    pytest.fail(f"helpbot serve did not answer within {START_DEADLINE} s:\n{log.read_text()}")
