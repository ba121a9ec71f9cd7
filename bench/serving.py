"""The loopback serving loop of bench/load.py's helper processes (the minimal bot, the
balancer): an aiohttp app with GET /healthz on 127.0.0.1, until SIGTERM."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web


async def serve(app: web.Application, port: int) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until the process gets SIGTERM."""
    app.router.add_get("/healthz", _ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")
