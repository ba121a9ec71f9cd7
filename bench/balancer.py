"""A loopback round-robin balancer for bench/load.py's replicas, in a process of its own (as a
real balancer would be), so that forwarding costs the bench's fake no CPU:

    python bench/balancer.py PORT REPLICA_PORT [REPLICA_PORT ...]

Each POST goes to the next replica; its answer goes back as it came.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

import aiohttp
from aiohttp import web
from serving import serve


async def main(port: int, replicas: list[int]) -> None:
    turn = itertools.cycle(replicas)
    async with aiohttp.ClientSession() as http:

        async def forward(request: web.Request) -> web.Response:
            url = f"http://127.0.0.1:{next(turn)}{request.path}"
            headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
            async with http.post(url, data=await request.read(), headers=headers) as response:
                body = await response.read()
                return web.Response(
                    status=response.status, body=body, content_type=response.content_type
                )

        app = web.Application()
        app.router.add_post("/{tail:.*}", forward)
        await serve(app, port)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), [int(p) for p in sys.argv[2:]]))
