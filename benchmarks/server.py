"""A minimal Backend.AI manager stand-in for the benchmarks (127.0.0.1 only).

Run as its own process (``python -m benchmarks.server``) so that the client's CPU is measured
alone; it prints one JSON line ``{"port": ..., "pid": ...}`` once it listens, and serves until
it is terminated.

It answers the calls the benchmarks make, with the same work for every contender:

- ``GET /``: ``{"version": <--api-version>, "manager": "26.2.0"}``;
- ``POST /session/{name}`` (execute): reads the body, answers a small finished result;
- ``GET /session/{name}`` (info): a small session description;
- ``POST /session/{name}/download_single`` (``GET`` before API v9.20250722): streams the
  deterministic pattern; the size is read from the file name asked for
  (``bench-<bytes>.bin``, JSON body or query ``file``);
- ``POST /session/{name}/upload``: reads every multipart part, discards it, answers 204.

Signatures are not verified during the timed runs: the manager's check costs server CPU
only, which the client-side measurements do not see, and leaving it out keeps the server from
being the bottleneck. The harness checks them in a preflight instead, by switching
verification on with ``POST /_bench/verify?on=1`` (an independent implementation of the
SPEC's algorithm, so the hand-written signing of the raw contender is checked too).

``GET /_bench/stats`` and ``POST /_bench/reset`` report and reset counters: requests,
signature failures, uploaded bytes, and the open and peak number of client connections
(sampled when a request arrives).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import sys
from datetime import datetime
from typing import Any, Final

from aiohttp import BodyPartReader, web

from benchmarks.common import (
    ACCESS_KEY,
    PATTERN_CHUNK,
    RUN_ID,
    SECRET_KEY,
    pattern_chunk,
    size_of_download_name,
)

DEFAULT_API_VERSION: Final = "v9.20250722"
MANAGER_VERSION: Final = "26.2.0"

_EMPTY_BODY_SHA256: Final = hashlib.sha256(b"").hexdigest()

_EXECUTE_ANSWER: Final = json.dumps(
    {
        "result": {
            "status": "finished",
            "runId": RUN_ID,
            "exitCode": 0,
            "console": [["stdout", "hello\n"]],
            "options": {},
            "files": [],
        }
    }
).encode()

_INFO_ANSWER: Final = json.dumps(
    {
        "sessionId": "6a4f6c7e-2f1d-4b7e-9c1e-3d2b1a0f9e8d",
        "sessionName": "bench-session",
        "image": "cr.backend.ai/stable/python:3.11-ubuntu22.04",
        "status": "RUNNING",
        "statusInfo": None,
        "occupiedSlots": {"cpu": "1", "mem": "1073741824"},
        "creationTime": "2025-07-22T12:00:00+00:00",
        "terminationTime": None,
        "numQueriesExecuted": 1,
        "resourceUsage": {},
    }
).encode()


class _Stats:
    """Counters reported by ``GET /_bench/stats``."""

    def __init__(self) -> None:
        self.verify = False
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.bad_signatures = 0
        self.last_bad_signature = ""
        self.uploaded_bytes = 0
        self.downloaded_bytes = 0
        self.peak_connections = 0


def _signature_problem(request: web.Request) -> str | None:
    """Check the request's keypair signature as the manager does; describe a failure."""
    authorization = request.headers.get("Authorization", "")
    prefix = "BackendAI signMethod=HMAC-SHA256, credential="
    if not authorization.startswith(prefix):
        return f"malformed Authorization: {authorization!r}"
    access_key, _, signature = authorization[len(prefix) :].partition(":")
    if access_key != ACCESS_KEY:
        return f"unknown access key {access_key!r}"
    date_header = request.headers.get("Date") or request.headers.get("X-BackendAI-Date") or ""
    try:
        date = datetime.fromisoformat(date_header)
    except ValueError:
        return f"bad Date {date_header!r}"
    if date.tzinfo is None:
        return f"Date without a timezone: {date_header!r}"
    host = request.headers.get("Host", "")
    version = request.headers.get("X-BackendAI-Version", "")
    message = "\n".join(
        (
            request.method.upper(),
            request.raw_path,
            date_header,
            f"host:{host}",
            f"content-type:{request.content_type}",
            f"x-backendai-version:{version}",
            _EMPTY_BODY_SHA256,
        )
    )
    key = hmac.new(SECRET_KEY.encode(), date.strftime("%Y%m%d").encode(), hashlib.sha256).digest()
    key = hmac.new(key, host.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return f"signature mismatch for {request.method} {request.raw_path} ({message!r})"
    return None


def create_app(api_version: str) -> web.Application:
    """Build the stand-in application answering *api_version* at ``GET /``."""
    stats = _Stats()
    servers: list[web.Server] = []
    chunk = memoryview(pattern_chunk())

    def count(request: web.Request, *, signed: bool = True) -> None:
        stats.requests += 1
        if servers:
            stats.peak_connections = max(stats.peak_connections, len(servers[0].connections))
        if signed and stats.verify:
            problem = _signature_problem(request)
            if problem is not None:
                stats.bad_signatures += 1
                stats.last_bad_signature = problem

    async def version(request: web.Request) -> web.Response:
        count(request, signed=False)
        return web.json_response({"version": api_version, "manager": MANAGER_VERSION})

    async def execute(request: web.Request) -> web.Response:
        count(request)
        await request.read()
        return web.Response(body=_EXECUTE_ANSWER, content_type="application/json")

    async def info(request: web.Request) -> web.Response:
        count(request)
        return web.Response(body=_INFO_ANSWER, content_type="application/json")

    async def download_single(request: web.Request) -> web.StreamResponse:
        count(request)
        body = await request.read()
        name = request.query.get("file", "")
        if body:
            try:
                name = str(json.loads(body).get("file", name))
            except (ValueError, AttributeError):
                return web.json_response({"title": "invalid JSON body"}, status=400)
        size = size_of_download_name(name)
        if size is None:
            return web.json_response({"title": f"no such file: {name!r}"}, status=404)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = size
        await response.prepare(request)
        remaining = size
        while remaining > 0:
            piece = chunk if remaining >= PATTERN_CHUNK else chunk[:remaining]
            await response.write(piece)
            remaining -= len(piece)
        await response.write_eof()
        stats.downloaded_bytes += size
        return response

    async def upload(request: web.Request) -> web.Response:
        count(request)
        reader = await request.multipart()
        received = 0
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                return web.json_response({"title": "nested multipart"}, status=400)
            while piece := await part.read_chunk(PATTERN_CHUNK):
                received += len(piece)
        stats.uploaded_bytes += received
        return web.Response(status=204)

    async def get_stats(request: web.Request) -> web.Response:
        # Not counted: the harness's own requests must not show in the figures. The open
        # connections exclude the one asking.
        open_connections = len(servers[0].connections) - 1 if servers else 0
        return web.json_response(
            {
                "requests": stats.requests,
                "bad_signatures": stats.bad_signatures,
                "last_bad_signature": stats.last_bad_signature,
                "uploaded_bytes": stats.uploaded_bytes,
                "downloaded_bytes": stats.downloaded_bytes,
                "peak_connections": stats.peak_connections,
                "open_connections": open_connections,
                "verify": stats.verify,
            }
        )

    async def reset(request: web.Request) -> web.Response:
        stats.reset()
        return web.Response(status=204)

    async def set_verify(request: web.Request) -> web.Response:
        stats.verify = request.query.get("on") == "1"
        return web.Response(status=204)

    app = web.Application(client_max_size=1 << 20)
    app["servers"] = servers
    app.router.add_get("/", version)
    app.router.add_post("/session/{name}", execute)
    app.router.add_get("/session/{name}", info)
    app.router.add_post("/session/{name}/download_single", download_single)
    # Managers before API v9.20250722 took the download calls as GET.
    app.router.add_get("/session/{name}/download_single", download_single)
    app.router.add_post("/session/{name}/upload", upload)
    app.router.add_get("/_bench/stats", get_stats)
    app.router.add_post("/_bench/reset", reset)
    app.router.add_post("/_bench/verify", set_verify)
    return app


async def serve(api_version: str, port: int) -> None:
    """Serve on 127.0.0.1:*port* (0: any free port) until SIGTERM or SIGINT."""
    app = create_app(api_version)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    assert runner.server is not None
    servers: list[Any] = app["servers"]
    servers.append(runner.server)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    bound_port: int = sock.getsockname()[1]
    site = web.SockSite(runner, sock, backlog=2048)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    sys.stdout.write(json.dumps({"port": bound_port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free one)")
    parser.add_argument(
        "--api-version",
        default=DEFAULT_API_VERSION,
        help=f"the version answered at GET / (default {DEFAULT_API_VERSION})",
    )
    args = parser.parse_args(argv)
    asyncio.run(serve(args.api_version, args.port))


if __name__ == "__main__":
    main()
