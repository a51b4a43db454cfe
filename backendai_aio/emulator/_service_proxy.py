"""Model services' moving parts: each replica's process, and the endpoint that proxies to them.

A replica is the model definition's start command run as a local process (in its own
process group, so that stopping it stops what it started) on a free loopback port; it is
healthy once it answers HTTP (the definition's ``health_check`` path with its expected
status, or any answer without one). An endpoint is a loopback listener of its own, as the
app proxy serves each real endpoint on its own address: it checks the bearer token (unless
the service is public) and forwards each request to a healthy replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from ._localonly import local_only

__all__ = [
    "EndpointProxy",
    "Replica",
    "ReplicaStartError",
    "free_port",
    "python_for",
    "round_robin",
]

# Headers that concern one connection, not the request: never forwarded (RFC 9110 7.6.1).
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# The most a proxied request body may bring (the model's inputs, not bulk data).
_MAX_BODY: Final = 64 * 1024 * 1024
# How long a stopped replica gets to exit on SIGTERM before it is killed.
_STOP_GRACE: Final = 3.0
# How much of a failed replica's output its error shows.
_LOG_TAIL: Final = 2000


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (free now: the replica binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _killpg(pgid: int, sig: signal.Signals) -> None:
    # The group may be gone already (or hold only zombies): that is fine.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class ReplicaStartError(Exception):
    """A replica did not become healthy; the message says why, with its output's end."""


class Replica:
    """One replica's process: started, health-checked, and stopped by its process group."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        port: int,
        log_path: Path,
        health_path: str | None = None,
        expected_status: int = 200,
        start_timeout: float = 30.0,
    ) -> None:
        self.command = list(command)
        self.cwd = cwd
        self.env = dict(env)
        self.port = port
        self.log_path = log_path
        self.health_path = health_path
        self.expected_status = expected_status
        self.start_timeout = start_timeout
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The process id (also its process group's), once started."""
        return None if self.proc is None else self.proc.pid

    def _output_tail(self) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(log.tell() - _LOG_TAIL, 0))
                return log.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def _failure(self, what: str) -> ReplicaStartError:
        tail = self._output_tail()
        return ReplicaStartError(f"{what}; its output ends with: {tail}" if tail else what)

    async def start(self, http: aiohttp.ClientSession) -> None:
        """Start the process and wait until it answers; raise `ReplicaStartError`."""
        try:
            with self.log_path.open("wb") as log:
                self.proc = await asyncio.create_subprocess_exec(
                    *self.command,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    cwd=self.cwd,
                    env=self.env,
                    start_new_session=True,
                )
        except OSError as exc:
            raise ReplicaStartError(
                f"cannot run the start command {self.command[0]!r}: {exc.strerror or exc}"
            ) from None
        deadline = time.monotonic() + self.start_timeout
        url = f"http://127.0.0.1:{self.port}{self.health_path or '/'}"
        while True:
            if self.proc.returncode is not None:
                raise self._failure(f"the start command exited with status {self.proc.returncode}")
            try:
                timeout = aiohttp.ClientTimeout(total=2.0)
                async with http.get(url, timeout=timeout, allow_redirects=False) as response:
                    if self.health_path is None or response.status == self.expected_status:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                await self.stop()
                raise self._failure(
                    f"the model did not answer {url} as expected within {self.start_timeout:g} s"
                )
            await asyncio.sleep(0.1)

    async def wait(self) -> int:
        """Wait for the process to end; answer its return code."""
        assert self.proc is not None
        return await self.proc.wait()

    async def stop(self) -> None:
        """Stop the process group: SIGTERM, then SIGKILL after a grace period."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            _killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), _STOP_GRACE)
        # What the command left running in its group goes too.
        _killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


#: Answers the port of a replica to forward to, or None when none is healthy.
PickReplica = Callable[[], int | None]
#: Answers None to let a request through, else the status refusing it (401 or 403).
Authorize = Callable[[str | None], int | None]


class EndpointProxy:
    """A service's endpoint: a loopback listener forwarding to its healthy replicas."""

    def __init__(self, pick: PickReplica, authorize: Authorize) -> None:
        self._pick = pick
        self._authorize = authorize
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> str:
        """Start listening on a free 127.0.0.1 port; answer the endpoint URL."""
        app = web.Application(middlewares=[local_only(())], client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        # No pooling limits: concurrent calls to a model are its to queue.
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0), auto_decompress=False
        )
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        return self.url

    async def close(self) -> None:
        """Stop listening; calling it again does nothing."""
        runner, self._runner = self._runner, None
        http, self._http = self._http, None
        if runner is not None:
            await runner.cleanup()
        if http is not None:
            await http.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        refused = self._authorize(request.headers.get("Authorization"))
        if refused is not None:
            reason = "a token is required" if refused == 401 else "the token is not valid"
            return web.json_response({"error": reason}, status=refused)
        port = self._pick()
        if port is None or self._http is None:
            return web.json_response({"error": "no healthy replica"}, status=503)
        headers = CIMultiDict(
            (key, value)
            for key, value in request.headers.items()
            if key.lower() not in _HOP_BY_HOP and key.lower() != "authorization"
        )
        body = await request.read()
        target = f"http://127.0.0.1:{port}{request.rel_url.raw_path_qs}"
        try:
            upstream = await self._http.request(
                request.method,
                target,
                headers=headers,
                data=body if body else None,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, OSError):
            return web.json_response({"error": "the replica did not answer"}, status=502)
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    response.headers.add(key, value)
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (aiohttp.ClientError, OSError):
                # The replica broke off: so does this answer (its length would lie).
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write_eof()
        return response


def round_robin() -> Callable[[Sequence[tuple[int, float]]], int | None]:
    """A picker over ``(port, traffic_ratio)`` pairs: weighted round robin, zero weight skipped."""
    counter = itertools.count()

    def pick(candidates: Sequence[tuple[int, float]]) -> int | None:
        weighted = [(port, ratio) for port, ratio in candidates if ratio > 0]
        if not weighted:
            return None
        total = sum(ratio for _, ratio in weighted)
        # Spread the calls in proportion to the ratios, deterministically.
        point = (next(counter) * 0.618033988749895 % 1.0) * total
        for port, ratio in weighted:
            point -= ratio
            if point < 0:
                return port
        return weighted[-1][0]

    return pick


def python_for(command: Sequence[str]) -> list[str]:
    """*command*, with a bare ``python``/``python3`` run by this emulator's interpreter.

    A container image would bring its own Python; on the host, ``python`` may be absent or
    another one, so the emulator's own runs the model.
    """
    words = list(command)
    if words and words[0] in ("python", "python3"):
        words[0] = sys.executable
    return words
