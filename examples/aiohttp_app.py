"""An aiohttp web service that runs Python code on Backend.AI: ``POST /run``.

Run it, then call it::

    python examples/aiohttp_app.py --port 8080
    curl -s localhost:8080/run -H 'Content-Type: application/json' -d '{"code": "print(6 * 7)"}'
    # {"status": "finished", "exit_code": 0, "stdout": "42\\n", "stderr": ""}

It talks to ``BACKEND_ENDPOINT`` (with ``BACKEND_ACCESS_KEY`` / ``BACKEND_SECRET_KEY``) when it
is set, else to a local emulator it starts itself; ``BACKEND_IMAGE`` picks the image (default
``python``).

The application holds one :class:`~backendai_aio.Client` for its whole life, opened and closed
by a cleanup context, so every request shares its connection pool.

Each request runs in a compute session of its own, destroyed when the request ends: callers
never see each other's variables or files, and concurrent requests do not queue behind one
kernel (a session runs one piece of code at a time). The price is a session start per request,
well under a second on the emulator but longer on a cluster; a service with many short requests
would keep a pool of warm sessions instead.

Failures map to HTTP statuses: a malformed request is 400, code that waits for ``input()`` is
422, a cluster that refuses the service's own credentials or fails is 502, one that cannot be
reached or is rate limited is 503.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import AsyncIterator

from aiohttp import web

from backendai_aio import (
    BackendError,
    Client,
    InputRequiredError,
    InvalidArgumentError,
    RateLimitError,
    RequestError,
)
from backendai_aio.emulator import configured_or_emulated

CLIENT = web.AppKey("client", Client)
IMAGE = web.AppKey("image", str)

log = logging.getLogger("aiohttp_app")


async def backend_client(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: one client for the application's whole life."""
    async with configured_or_emulated(announce=log.info) as config, Client(config) as client:
        app[CLIENT] = client
        yield


def error_response(error: BackendError) -> web.Response:
    """Map a failed Backend.AI call to the status this service answers."""
    if isinstance(error, InputRequiredError | InvalidArgumentError):
        status = 422  # the submitted code asked for input, which this endpoint cannot give
    elif isinstance(error, RateLimitError):
        status = 503
    elif isinstance(error, RequestError):
        status = 503  # the cluster cannot be reached
    else:
        status = 502  # the cluster refused or failed: nothing the caller can fix
    headers = {}
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        headers["Retry-After"] = str(round(error.retry_after))
    body = {"error": error.type, "message": error.message}
    return web.json_response(body, status=status, headers=headers)


async def run_code(request: web.Request) -> web.Response:
    """``POST /run`` with ``{"code": "..."}``: run it in a fresh session, answer its output."""
    try:
        payload = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be JSON") from None
    code = payload.get("code") if isinstance(payload, dict) else None
    if not isinstance(code, str):
        raise web.HTTPBadRequest(text='the body must be {"code": "..."}')
    client = request.app[CLIENT]
    try:
        session = await client.create_if_not_exists(request.app[IMAGE])
        name = session["sessionName"]
        try:
            result = await client.sessions.run(name, code)
        finally:
            await client.destroy(name)
    except BackendError as error:
        log.warning("run failed: %r", error)
        return error_response(error)
    return web.json_response(
        {
            "status": result.status,
            "exit_code": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
        }
    )


def create_app(image: str | None = None) -> web.Application:
    """The web application; *image* defaults to ``BACKEND_IMAGE`` or ``python``."""
    app = web.Application()
    app[IMAGE] = image or os.environ.get("BACKEND_IMAGE", "python")
    app.cleanup_ctx.append(backend_client)
    app.router.add_post("/run", run_code)
    return app


def main() -> None:
    """Serve the application on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(
        description="An aiohttp service that runs Python code on Backend.AI."
    )
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    web.run_app(create_app(), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
