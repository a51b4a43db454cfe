"""A FastAPI service that runs Python code on Backend.AI: ``POST /run``.

Needs the ``examples`` extra (``pip install '.[examples]'``: FastAPI and uvicorn). Run it,
then call it::

    python examples/fastapi_app.py --port 8000
    curl -s localhost:8000/run -H 'Content-Type: application/json' -d '{"code": "print(6 * 7)"}'
    # {"status":"finished","exit_code":0,"stdout":"42\\n","stderr":""}

It talks to ``BACKEND_ENDPOINT`` (with ``BACKEND_ACCESS_KEY`` / ``BACKEND_SECRET_KEY``) when it
is set, else to a local emulator it starts itself; ``BACKEND_IMAGE`` picks the image (default
``python``).

The application's lifespan opens one :class:`~backendai_aio.Client` and closes it at shutdown;
handlers receive it through a dependency. As in ``aiohttp_app.py``, each request runs in a
compute session of its own, destroyed when the request ends (isolation between callers, at the
cost of a session start per request). Failures map to HTTP statuses the same way: 422 for code
that waits for ``input()``, 502 when the cluster refuses or fails, 503 when it cannot be
reached or is rate limited (an invalid body is FastAPI's own 422).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import uvicorn  # pyright: ignore[reportMissingImports]
from fastapi import Depends, FastAPI, Request  # pyright: ignore[reportMissingImports]
from fastapi.responses import JSONResponse  # pyright: ignore[reportMissingImports]

from backendai_aio import (
    BackendError,
    Client,
    InputRequiredError,
    InvalidArgumentError,
    RateLimitError,
    RequestError,
)
from backendai_aio.emulator import configured_or_emulated

log = logging.getLogger("fastapi_app")


@dataclass
class RunRequest:
    """The body of ``POST /run``."""

    code: str


@dataclass
class RunResponse:
    """How the code ended and what it printed."""

    status: str
    exit_code: int | None
    stdout: str
    stderr: str


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One client for the application's whole life."""
    async with configured_or_emulated(announce=log.info) as config, Client(config) as client:
        app.state.client = client
        yield


def get_client(request: Request) -> Client:
    """The application's client (a dependency)."""
    client: Client = request.app.state.client
    return client


async def run_code(body: RunRequest, client: Annotated[Client, Depends(get_client)]) -> RunResponse:
    """Run ``code`` in a fresh compute session and answer its output."""
    session = await client.create_if_not_exists(os.environ.get("BACKEND_IMAGE", "python"))
    name = session["sessionName"]
    try:
        result = await client.sessions.run(name, body.code)
    finally:
        await client.destroy(name)
    return RunResponse(result.status, result.exit_code, result.stdout, result.stderr)


async def backend_error(request: Request, error: Exception) -> JSONResponse:
    """Map a failed Backend.AI call to the status this service answers."""
    assert isinstance(error, BackendError)
    log.warning("run failed: %r", error)
    if isinstance(error, InputRequiredError | InvalidArgumentError):
        status = 422  # the submitted code asked for input, which this endpoint cannot give
    elif isinstance(error, RateLimitError | RequestError):
        status = 503  # rate limited, or the cluster cannot be reached
    else:
        status = 502  # the cluster refused or failed: nothing the caller can fix
    headers = {}
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        headers["Retry-After"] = str(round(error.retry_after))
    body = {"error": error.type, "message": error.message}
    return JSONResponse(body, status_code=status, headers=headers)


def create_app() -> FastAPI:
    """The web application."""
    app = FastAPI(title="Run Python on Backend.AI", lifespan=lifespan)
    app.add_api_route("/run", run_code, methods=["POST"])
    app.add_exception_handler(BackendError, backend_error)
    return app


def main() -> None:
    """Serve the application on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(
        description="A FastAPI service that runs Python code on Backend.AI."
    )
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
