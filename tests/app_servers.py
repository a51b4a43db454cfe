"""aiohttp applications served on 127.0.0.1 for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def app_server(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp application on 127.0.0.1; yield the base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def root_app(version: str = "v9.20250722") -> web.Application:
    """An application that answers ``GET /`` with *version*."""
    app = web.Application()

    async def root(request: web.Request) -> web.Response:
        return web.json_response({"version": version, "manager": "x"})

    app.router.add_get("/", root)
    return app
